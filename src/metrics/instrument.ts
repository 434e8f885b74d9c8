/**
 * database_queries_total / database_query_duration_seconds for wks's own
 * queries: wrap a DatabaseAdapter so every query, run and exec is counted
 * and timed. The wrapper forwards everything else (transaction, close,
 * poolStats, dialect, target) to the real adapter.
 */
import type { DatabaseAdapter } from '../db/index.js';
import type { WksMetrics } from './registry.js';

const TABLE_RE = /\b(?:from|into|update|join|table(?:\s+if\s+(?:not\s+)?exists)?)\s+["`]?([A-Za-z_][A-Za-z0-9_]*)/i;

/** The statement's first keyword in lower case (`select`, `insert`, ...) and its first table, or `unknown`. */
export function classifySql(sql: string): { queryType: string; table: string } {
  const s = sql.replace(/^\s*(--[^\n]*\n\s*)*/, '');
  const m = /^\s*(\w+)/.exec(s);
  let queryType = (m?.[1] ?? 'unknown').toLowerCase();
  if (queryType === 'with') queryType = /\b(insert|update|delete)\b/i.exec(s)?.[1]?.toLowerCase() ?? 'select';
  const t = TABLE_RE.exec(s);
  return { queryType, table: t?.[1]?.toLowerCase() ?? 'unknown' };
}

/** Wrap `db` so its queries feed the database_* metrics. Errors are counted and rethrown unchanged. */
export function instrumentDb(db: DatabaseAdapter, metrics: WksMetrics): DatabaseAdapter {
  const time = async <T>(sql: string, fn: () => Promise<T>): Promise<T> => {
    const { queryType, table } = classifySql(sql);
    const end = metrics.databaseQueryDuration.startTimer({ query_type: queryType });
    try {
      return await fn();
    } finally {
      end();
      metrics.databaseQueriesTotal.inc({ query_type: queryType, table });
    }
  };
  const wrap = (inner: DatabaseAdapter): DatabaseAdapter => ({
    get dialect() {
      return inner.dialect;
    },
    get target() {
      return inner.target;
    },
    query: (sql, params) => time(sql, () => inner.query(sql, params)),
    queryRows: (sql, params) => time(sql, () => inner.queryRows(sql, params)),
    run: (sql, params) => time(sql, () => inner.run(sql, params)),
    exec: (sql) => time(sql, () => inner.exec(sql)),
    transaction: (fn) => inner.transaction((tx) => fn(wrap(tx))),
    close: () => inner.close(),
    poolStats: () => inner.poolStats(),
  });
  return wrap(db);
}
