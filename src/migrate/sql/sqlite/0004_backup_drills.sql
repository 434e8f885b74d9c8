-- Restore drills (`wks backup drill`): each drill restores a backup into a
-- scratch target, checks it, and records here how long each phase took and
-- whether the measured RTO met the target. The catalog keeps the last drill
-- of each backup beside its manifest; this table keeps the history.

-- migrate:up
CREATE TABLE backup_drills (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  backup_id TEXT NOT NULL,
  engine TEXT NOT NULL,
  started_at DATETIME NOT NULL,
  completed_at DATETIME NOT NULL,
  outcome TEXT NOT NULL CHECK(outcome IN ('passed', 'failed', 'rto_missed')),
  duration_ms INTEGER NOT NULL,
  rto_target_ms INTEGER NOT NULL,
  fetch_ms INTEGER NOT NULL,
  decode_ms INTEGER NOT NULL,
  load_ms INTEGER NOT NULL,
  check_ms INTEGER NOT NULL,
  failed_check TEXT,
  error_message TEXT,
  hostname TEXT NOT NULL
);

CREATE INDEX idx_backup_drills_started ON backup_drills(started_at DESC);

-- migrate:down
DROP INDEX idx_backup_drills_started;
DROP TABLE backup_drills;
