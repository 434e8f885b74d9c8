/**
 * The schema of a PostgreSQL database as sorted text lines, for comparing two databases: columns
 * (type, nullability, default, identity), constraints (definition, validated, deferrable), indexes
 * (definition and flags), triggers (by function, type and constraint; their names carry OIDs) and
 * sequences (definition). `wks_copy_*` bookkeeping tables are left out.
 */
import pg from 'pg';

const QUERIES = [
  `SELECT 'column ' || table_name || '.' || column_name || ' #' || ordinal_position || ' ' || data_type || ' null=' || is_nullable
          || ' default=' || coalesce(column_default, '-') || ' identity=' || is_identity || coalesce(' ' || identity_generation, '') AS l
     FROM information_schema.columns WHERE table_schema = current_schema()`,
  `SELECT 'constraint ' || c.relname || '.' || k.conname || ' ' || k.contype::text || ' ' || pg_get_constraintdef(k.oid)
          || ' validated=' || k.convalidated || ' deferrable=' || k.condeferrable || ' deferred=' || k.condeferred AS l
     FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid WHERE c.relnamespace = current_schema()::regnamespace`,
  `SELECT 'index ' || c.relname || ' ' || pg_get_indexdef(i.indexrelid) || ' unique=' || i.indisunique || ' primary=' || i.indisprimary
          || ' valid=' || i.indisvalid || ' ready=' || i.indisready || ' immediate=' || i.indimmediate AS l
     FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid WHERE c.relnamespace = current_schema()::regnamespace`,
  `SELECT 'trigger ' || c.relname || ' ' || t.tgfoid::regproc || ' type=' || t.tgtype || ' enabled=' || t.tgenabled::text
          || ' constraint=' || coalesce(k.conname, '-') AS l
     FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid LEFT JOIN pg_constraint k ON k.oid = t.tgconstraint
    WHERE c.relnamespace = current_schema()::regnamespace`,
  `SELECT 'sequence ' || sequencename || ' ' || data_type || ' start=' || start_value || ' inc=' || increment_by AS l
     FROM pg_sequences WHERE schemaname = current_schema()`,
];

export async function schemaLines(url: string): Promise<string[]> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    const out: string[] = [];
    for (const q of QUERIES) for (const r of (await c.query<{ l: string }>(q)).rows) out.push(r.l);
    return out.filter((l) => !/\bwks_copy_/.test(l)).sort();
  } finally {
    await c.end();
  }
}
