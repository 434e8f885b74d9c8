/** SQL text helpers shared by both dialects. */

/** Quote an identifier (table, column, database name) for SQLite and PostgreSQL: double quotes, embedded quotes doubled. */
export const quoteIdent = (name: string): string => `"${name.replace(/"/g, '""')}"`;
