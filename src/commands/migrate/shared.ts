import { intFlag, FLAG_LIMITS } from '../flags.js';
/** Helpers shared by the migrate commands (command edge only). */
import type { CommandContext } from '../context.js';
import type { LockHolder, MigrationInfo } from '../../migrate/index.js';
import type { Reporter } from '../../ui/index.js';

export function lockWaitNotice(ctx: CommandContext) {
  return async (holder: LockHolder | null): Promise<void> => {
    const { describeHolder } = await import('../../migrate/index.js');
    ctx.out.warn(`waiting for the migration mutex, held by ${describeHolder(holder)}`);
  };
}

export function parseLockTimeout(v: string | undefined): number | undefined {
  return v === undefined ? undefined : intFlag(v, '--lock-timeout', 0, { max: FLAG_LIMITS.timeoutMs });
}

/** A dry-run plan for people: each migration's header, then its statements as they would run. */
export function printPlan(r: Reporter, plan: MigrationInfo[]): void {
  for (const m of plan) {
    r.line(r.c.bold(`-- ${m.version}_${m.name}${m.transaction ? '' : '  [transaction:false]'}  (${m.file})`));
    for (const s of m.statements ?? []) r.line(`${s.sql.replace(/;?\s*$/, ';')}`);
    r.line();
  }
}
