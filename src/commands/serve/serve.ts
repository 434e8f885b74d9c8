import type { Action } from '../context.js';

interface Opts {
  host?: string;
  port?: string;
  printSchedule?: boolean;
}

/**
 * `wks serve`: start the daemon and run until SIGTERM/SIGINT.
 * First signal: graceful stop (exit 0; exit by the signal when a job outlives
 * serve.shutdown_grace_ms). Second signal: exit at once.
 */
const serve: Action<Opts> = async (ctx, _args, opts) => {
  const config = await ctx.config({
    'monitoring.prometheus.host': { value: opts.host, flag: '--host' },
    'monitoring.prometheus.port': { value: opts.port, flag: '--port' },
  });
  const { describeSchedule, startServe, installCrashGuard } = await import('../../serve/index.js');

  if (opts.printSchedule) {
    const s = await describeSchedule(config);
    ctx.out.result(s, (d, r) => {
      r.line(`leader lease: ${d.leader.mechanism} (${d.leader.leaseMs} ms)`);
      r.table(d.jobs, [
        { header: 'JOB', value: 'name' },
        { header: 'SCHEDULE', value: 'schedule' },
        { header: 'ENABLED', value: (j) => (j.enabled ? 'yes' : `no: ${j.reason}`) },
        { header: 'NEXT RUNS', value: (j) => j.next.join('  ') || '-' },
      ]);
    });
    return;
  }

  const out = ctx.out;
  const logger = await ctx.logger();
  const log = logger.log;
  // logrotate moves the file, then sends SIGHUP: reopen the path (a new file).
  const onHup = (): void => {
    if (!logger.file) return;
    log('info', `SIGHUP: reopening the log file ${logger.file}`);
    logger.reopen();
    log('info', `log file ${logger.file} reopened`);
  };
  process.on('SIGHUP', onHup);
  const handle = await startServe(config, { log });
  installCrashGuard(handle.metrics.unexpectedErrorsTotal, log);
  out.result({ url: handle.url, instance: handle.lease.instanceId, leader: handle.lease.mechanism });

  const result = await new Promise<{ clean: boolean; abandoned: string[] }>((resolve) => {
    let stopping = false;
    const onSignal = (sig: NodeJS.Signals): void => {
      if (stopping) {
        log('warn', `second ${sig}: exiting now`);
        logger.close();
        // Every listener (the CLI's cleanup handler too): the signal's default action ends the process.
        process.removeAllListeners('SIGTERM');
        process.removeAllListeners('SIGINT');
        process.kill(process.pid, sig);
        return;
      }
      stopping = true;
      log('info', `${sig} received: stopping the scheduler, finishing running jobs`);
      void handle.stop().then((r) => {
        if (r.clean) {
          process.removeListener('SIGTERM', onSignal);
          process.removeListener('SIGINT', onSignal);
        }
        resolve(r);
      });
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
  });
  if (!result.clean) {
    // A job (a backup) outlived the grace period; wks never cuts a backup off
    // itself, so it exits by the signal's default action instead (non-zero).
    log('error', `grace period (serve.shutdown_grace_ms) exceeded; abandoning ${result.abandoned.join(', ')}`);
    logger.close();
    process.removeAllListeners('SIGTERM');
    process.kill(process.pid, 'SIGTERM');
    return;
  }
  log('info', 'stopped');
  process.removeListener('SIGHUP', onHup);
  logger.close();
};
export default serve;
