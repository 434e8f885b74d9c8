import type { Action } from '../context.js';
import { lockWaitNotice, logTo, progressTo } from './format.js';
import { formatBytes } from '../../util/size.js';
import type { BackupType, Compression } from '../../backup/index.js';

interface Opts {
  type?: BackupType;
  compress?: Compression;
  encrypt?: boolean;
  label?: string;
  rotate?: boolean;
}

/** `wks backup create`: one createBackup() call, with a spinner on a TTY. */
const create: Action<Opts> = async (ctx, _args, opts) => {
  const config = await ctx.config(
    opts.compress ? { 'database.backup.compression': { value: opts.compress, flag: '--compress' } } : {},
  );
  const run = ctx.reportRun('backup_create');
  const { createBackup } = await import('../../backup/index.js');
  const spin = await ctx.out.progress(
    `backing up ${config.database.type === 'sqlite' ? config.database.path : `PostgreSQL database ${config.database.postgresql.database}`}`,
  );
  try {
    const r = await createBackup(config, {
      type: opts.type,
      compression: opts.compress,
      encrypt: opts.encrypt,
      label: opts.label ?? null,
      rotate: opts.rotate,
      log: logTo(ctx.out),
      onProgress: progressTo(spin, 'backup'),
      onLockWait: lockWaitNotice(ctx.out, spin),
    });
    const m = r.manifest;
    run.bytes = m.stored_size;
    spin.succeed(`backup ${m.id} written (${formatBytes(m.stored_size)}, ${m.duration_ms} ms)`);
    ctx.out.result(
      {
        ok: true,
        backup: m,
        path: r.path,
        location: r.location,
        remote: r.remote ?? null,
        cleaned: r.cleaned,
        rotation: r.rotation ?? null,
      },
      (d, out) => {
        out.keyValues([
          ['id', m.id],
          ['type', m.type + (m.label ? ` (${m.label})` : '')],
          ['file', d.path],
          ...(d.remote ? ([['copy', d.remote.path]] as Array<[string, string]>) : []),
          ['size', `${formatBytes(m.stored_size)} stored, ${formatBytes(m.raw_size)} raw`],
          ['compression', m.compression],
          ['encryption', m.encryption ? `${m.encryption.algorithm} (key id ${m.encryption.key_id})` : 'none'],
          ['sha256', m.sha256],
          ['schema', m.schema_version ?? '(unmigrated)'],
          ['rows', Object.values(m.row_counts).reduce((a, b) => a + b, 0)],
        ]);
        if (d.remote?.backfilled.length)
          out.line(`also copied ${d.remote.backfilled.length} older local-only backup(s) off the host`);
        if (d.rotation) out.line(`rotation: deleted ${d.rotation.deleted.length}, kept ${d.rotation.kept.length}`);
      },
    );
  } catch (err) {
    spin.stop(); // the error handler prints the one-line error
    throw err;
  }
};
export default create;
