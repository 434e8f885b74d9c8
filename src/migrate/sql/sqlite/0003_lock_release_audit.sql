-- Audit trail of execution-lock releases (`wks lock release`, `wks workflow
-- reap`): who released which lock, when, held by whom, why, and whether it
-- was forced. A refused release (holder mismatch) is recorded too.
-- execution_id is TEXT because it comes from the Redis key, which may name
-- an execution the database does not have.

-- migrate:up
CREATE TABLE lock_release_audit (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  execution_id TEXT NOT NULL,
  lock_key TEXT NOT NULL,
  holder TEXT,
  expected_worker TEXT,
  forced INTEGER NOT NULL DEFAULT 0 CHECK(forced IN (0, 1)),
  reason TEXT,
  outcome TEXT NOT NULL CHECK(outcome IN ('released', 'mismatch', 'absent')),
  released_by TEXT NOT NULL,
  released_at DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
  source TEXT NOT NULL DEFAULT 'lock release'
);

CREATE INDEX idx_lock_release_audit_execution
ON lock_release_audit(execution_id, released_at DESC);

-- migrate:down
DROP INDEX idx_lock_release_audit_execution;
DROP TABLE lock_release_audit;
