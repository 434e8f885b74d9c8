/**
 * `locks`: execution locks in Redis (`<ns>:lock:execution:<id>`) held for
 * executions that have finished (completed/failed) or that the database does
 * not know, and locks without a TTL: each is warn (the workflow cannot be
 * re-run until the lock expires or is released). Skipped (ok) when Redis is
 * disabled. SCAN is bounded (src/redis's scanLocks).
 */
import type { CheckDefinition, CheckOutcome } from '../types.js';
import { isMissingTable, missingTable, needDb, plural } from './util.js';

/** Locks examined at most (a health probe must stay cheap). */
export const LOCK_SCAN_CAP = 10_000;

export const locksCheck: CheckDefinition = {
  name: 'locks',
  description: 'Redis execution locks held for finished or unknown executions, or without a TTL',
  async run(ctx): Promise<CheckOutcome> {
    if (!ctx.config.redis.enabled) {
      return { status: 'ok', detail: 'skipped: Redis disabled (REDIS_ENABLED=false)', data: { enabled: false } };
    }
    const { client } = await ctx.resources.redis();
    const { scanLocks } = await import('../../redis/index.js');
    const { keyspace } = await import('../../redis/index.js');
    const keys = keyspace(ctx.config.redis.namespace);
    const state = { truncated: false };
    const locks = [];
    for await (const batch of scanLocks(client, keys, { cap: LOCK_SCAN_CAP, state })) {
      locks.push(...batch);
      if (ctx.signal.aborted) break;
    }
    if (locks.length === 0) return { status: 'ok', detail: 'no execution locks held', data: { held: 0 } };

    const db = await needDb(ctx);
    const { queryExecutionsByIds } = await import('../../workflow/index.js');
    let rows;
    try {
      rows = await queryExecutionsByIds(
        db,
        locks.map((l) => l.executionId),
      );
    } catch (err) {
      if (isMissingTable(err)) return missingTable('workflow_executions');
      throw err;
    }
    const finished: string[] = [];
    const unknown: string[] = [];
    const noTtl: string[] = [];
    for (const l of locks) {
      const row = rows.get(l.executionId);
      if (!row) unknown.push(l.executionId);
      else if (row.status === 'completed' || row.status === 'failed') finished.push(l.executionId);
      if (l.ttlMs === null) noTtl.push(l.executionId);
    }
    const data = { held: locks.length, truncated: state.truncated, finished, unknown, withoutTtl: noTtl };
    const problems: string[] = [];
    const list = (ids: string[]) => ids.slice(0, 5).join(', ') + (ids.length > 5 ? ', ...' : '');
    if (finished.length)
      problems.push(`${plural(finished.length, 'lock')} held for finished executions (${list(finished)})`);
    if (unknown.length)
      problems.push(`${plural(unknown.length, 'lock')} for executions not in the database (${list(unknown)})`);
    if (noTtl.length) problems.push(`${plural(noTtl.length, 'lock')} without a TTL (${list(noTtl)})`);
    const scanned = `${plural(locks.length, 'lock')} held${state.truncated ? ` (first ${LOCK_SCAN_CAP} examined)` : ''}`;
    if (problems.length > 0) {
      return {
        status: 'warn',
        detail: `${scanned}; ${problems.join('; ')}`,
        hint: 'inspect with `wks lock list`; release a stale one with `wks lock release <execution-id>`',
        data,
      };
    }
    return { status: 'ok', detail: `${scanned}, all for unfinished executions`, data };
  },
};
