-- State of the built-in alert rules of `wks serve` (docs/serve.md, Alerts),
-- shared by every instance: a new leader reads which alerts are firing and
-- when they were last notified, so a failover sends no duplicate
-- notification and the resolve is still sent exactly once.
-- Times are Unix milliseconds.

-- migrate:up
CREATE TABLE alert_state (
  rule TEXT PRIMARY KEY,
  state TEXT NOT NULL CHECK (state IN ('inactive', 'pending', 'firing')),
  since_ms BIGINT,
  value DOUBLE PRECISION,
  notified_at_ms BIGINT,
  updated_at_ms BIGINT NOT NULL,
  updated_by TEXT NOT NULL
);

-- migrate:down
DROP TABLE alert_state;
