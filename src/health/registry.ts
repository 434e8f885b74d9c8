/**
 * The check registry: names, one-line descriptions, and a loader per check.
 * Check modules are imported only when selected, so `wks health --check
 * database,backups` on SQLite never loads ioredis, pg or the workflow code.
 * Order here is report order.
 */
import type { CheckDefinition } from './types.js';

interface Entry {
  description: string;
  load: () => Promise<CheckDefinition>;
}

export const REGISTRY: Readonly<Record<string, Entry>> = {
  config: {
    description: 'configuration is valid; key file and backup directory are usable',
    load: async () => (await import('./checks/config.js')).configCheck,
  },
  database: {
    description:
      'reachable; SQLite header, schema and table roots (full integrity_check with --deep); PostgreSQL SELECT 1 and pool usage',
    load: async () => (await import('./checks/database.js')).databaseCheck,
  },
  migrations: {
    description: 'pending migrations (warn), checksum drift (critical)',
    load: async () => (await import('./checks/migrations.js')).migrationsCheck,
  },
  redis: {
    description: 'when enabled: PING latency, memory against maxmemory, evictions',
    load: async () => (await import('./checks/redis.js')).redisCheck,
  },
  backups: {
    description: 'newest verified backup against the RPO; failed or unverified backups; free space',
    load: async () => (await import('./checks/backups.js')).backupsCheck,
  },
  drills: {
    description: 'age and outcome of the last restore drill (database.backup.drill.max_age, RTO target)',
    load: async () => (await import('./checks/drills.js')).drillsCheck,
  },
  workflows: {
    description: 'executions past WORKFLOW_TIMEOUT_MS; active executions against MAX_CONCURRENT_WORKFLOWS',
    load: async () => (await import('./checks/workflows.js')).workflowsCheck,
  },
  agents: {
    description: 'latest agent health per agent: unhealthy, degraded or stale',
    load: async () => (await import('./checks/agents.js')).agentsCheck,
  },
  locks: {
    description: 'Redis execution locks held for finished or unknown executions',
    load: async () => (await import('./checks/locks.js')).locksCheck,
  },
};

/** Every check name, in report order. */
export const CHECK_NAMES: readonly string[] = Object.keys(REGISTRY);

/** The cheap subset for readiness probes (`wks serve` /ready): can we reach our data stores right now? */
export const READINESS_CHECKS: readonly string[] = ['config', 'database', 'redis'];
