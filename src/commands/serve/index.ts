import type { Command } from 'commander';
import { lazy } from '../context.js';

/** `wks serve`: the daemon (scheduler + /metrics /health /ready). */
export function register(program: Command): void {
  program
    .command('serve')
    .description('run the scheduler and serve /metrics, /health and /ready')
    .option('--host <host>', 'listen address (default: monitoring.prometheus.host, METRICS_HOST; 127.0.0.1)')
    .option('--port <port>', 'listen port (default: monitoring.prometheus.port, METRICS_PORT; 9090)')
    .option('--print-schedule', 'print each job, its schedule and next run times, then exit')
    .addHelpText(
      'after',
      '\nJobs (serve.jobs.*): backup, rotate, verify, reap, agent_health, alerts, metrics_sample.\n' +
        'With several instances only the leader runs jobs (Redis lease, PostgreSQL advisory lock, or a file lock).\n' +
        'First SIGTERM/SIGINT: stop scheduling, let a running backup finish (serve.shutdown_grace_ms), exit 0.\n' +
        'A second signal exits at once. See docs/serve.md.',
    )
    .action(lazy(() => import('./serve.js')));
}
