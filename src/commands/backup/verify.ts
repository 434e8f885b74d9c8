import type { Action } from '../context.js';
import { UsageError, VerificationError } from '../../errors.js';
import { logTo, progressTo } from './format.js';

interface Opts {
  latest?: boolean;
  all?: boolean;
  deep?: boolean;
  allowUnauthenticated?: boolean;
}

/** `wks backup verify [ID | --latest | --all] [--deep]`: exit 3 naming the failed check. */
const verify: Action<Opts> = async (ctx, args, opts) => {
  const id = args[0];
  if ([id !== undefined, !!opts.latest, !!opts.all].filter(Boolean).length > 1) {
    throw new UsageError('give one of: an id, --latest, --all', {
      hint: 'wks backup verify 20261129T0230 | --latest | --all',
    });
  }
  const config = await ctx.config();
  const run = ctx.reportRun('backup_verify');
  const { selectBackups, verifyEntry, verificationFailure, brokenBackups, brokenRecord } = await import(
    '../../backup/index.js'
  );
  const entries = await selectBackups(config, opts.all ? { all: true } : id !== undefined ? { id } : { latest: true }, {
    log: logTo(ctx.out),
  });
  const records = [];
  // --all: a backup whose manifest is broken is a failed backup, not an absent one.
  for (const p of opts.all ? await brokenBackups(config) : []) {
    const rec = brokenRecord(p);
    ctx.out.warn(`${rec.id}: FAILED manifest: ${rec.checks[0]!.detail}`);
    records.push(rec);
  }
  for (const e of entries) {
    const spin = await ctx.out.progress(`verifying ${e.manifest.id}`);
    const rec = await verifyEntry(config, e, {
      deep: opts.deep,
      allowUnauthenticated: opts.allowUnauthenticated,
      log: logTo(ctx.out),
      onProgress: progressTo(spin, e.manifest.id),
    }).catch((err) => {
      spin.stop();
      throw err;
    });
    if (rec.ok) spin.succeed(`${rec.id}: ok (${rec.checks.map((c) => c.name).join(', ')})`);
    else spin.fail(`${rec.id}: FAILED ${rec.failed}: ${rec.checks.find((c) => !c.ok)!.detail}`);
    records.push(rec);
    run.bytes = (run.bytes ?? 0) + e.manifest.stored_size;
  }
  const failed = records.filter((r) => !r.ok);
  if (failed.length === 0) {
    ctx.out.result({ ok: true, verified: records }, (d, r) => {
      if (!d.verified.length) r.line(r.c.dim('no backups to verify'));
      for (const rec of d.verified)
        r.line(`${r.c.green('ok')}  ${rec.id}  ${rec.checks.map((c) => `${c.name}: ${c.detail}`).join('; ')}`);
    });
    return;
  }
  if (records.length === 1) throw verificationFailure(failed[0]!);
  const err = verificationFailure(failed[0]!);
  throw new VerificationError(
    `${failed.length} of ${records.length} backups failed verification: ${failed.map((f) => `${f.id} (${f.failed})`).join(', ')}`,
    { hint: err.hint, details: { verified: records } },
  );
};
export default verify;
