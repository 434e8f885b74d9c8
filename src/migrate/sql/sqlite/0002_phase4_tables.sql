-- Phase 4 additions from the seed: execution tracking, metrics, backup log,
-- agent health checks, rate limits, and their indexes (including the partial
-- index on active executions).

-- migrate:up
CREATE TABLE workflow_execution_tracking (
  execution_id INTEGER PRIMARY KEY,
  workflow_id INTEGER NOT NULL,
  user_id INTEGER,
  started_at DATETIME NOT NULL,
  estimated_duration_ms INTEGER,
  priority INTEGER DEFAULT 5,
  retry_count INTEGER DEFAULT 0,
  lock_acquired_at DATETIME,
  worker_id TEXT,
  FOREIGN KEY (execution_id) REFERENCES workflow_executions(id),
  FOREIGN KEY (workflow_id) REFERENCES workflows(id),
  FOREIGN KEY (user_id) REFERENCES users(id)
);

CREATE INDEX idx_workflow_execution_status
ON workflow_executions(status)
WHERE status IN ('pending', 'running');

CREATE TABLE metrics (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  metric_name TEXT NOT NULL,
  metric_value REAL NOT NULL,
  labels_json TEXT,
  timestamp DATETIME DEFAULT CURRENT_TIMESTAMP
);

CREATE INDEX idx_metrics_timestamp
ON metrics(metric_name, timestamp DESC);

CREATE TABLE backup_log (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  backup_type TEXT CHECK(backup_type IN ('manual', 'scheduled', 'pre-migration')),
  file_path TEXT NOT NULL,
  file_size_bytes INTEGER,
  started_at DATETIME NOT NULL,
  completed_at DATETIME,
  status TEXT CHECK(status IN ('in_progress', 'completed', 'failed')),
  error_message TEXT,
  checksum TEXT
);

CREATE TABLE agent_health_checks (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  agent_id INTEGER NOT NULL,
  check_time DATETIME DEFAULT CURRENT_TIMESTAMP,
  status TEXT CHECK(status IN ('healthy', 'degraded', 'unhealthy')),
  response_time_ms INTEGER,
  error_message TEXT,
  metrics_json TEXT,
  FOREIGN KEY (agent_id) REFERENCES agents(id)
);

CREATE INDEX idx_agent_health_recent
ON agent_health_checks(agent_id, check_time DESC);

CREATE TABLE rate_limits (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  user_id INTEGER,
  ip_address TEXT,
  endpoint TEXT NOT NULL,
  request_count INTEGER DEFAULT 1,
  window_start DATETIME NOT NULL,
  window_end DATETIME NOT NULL,
  FOREIGN KEY (user_id) REFERENCES users(id)
);

CREATE INDEX idx_rate_limits_lookup
ON rate_limits(user_id, ip_address, endpoint, window_end);

-- migrate:down
DROP INDEX idx_rate_limits_lookup;
DROP TABLE rate_limits;
DROP INDEX idx_agent_health_recent;
DROP TABLE agent_health_checks;
DROP TABLE backup_log;
DROP INDEX idx_metrics_timestamp;
DROP TABLE metrics;
DROP INDEX idx_workflow_execution_status;
DROP TABLE workflow_execution_tracking;
