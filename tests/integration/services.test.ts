import { describe, it, expect, afterAll } from 'vitest';
import pg from 'pg';
import { createTestDatabase, createTestRedis } from '../helpers/services.js';

// Proves the integration helpers give each file its own database and Redis namespace.
const db = await createTestDatabase('services');
const redis = await createTestRedis('services');
afterAll(async () => {
  await db?.drop();
  await redis?.cleanup();
});

describe.skipIf(!db)('PostgreSQL test database', () => {
  it('is fresh and reachable', async () => {
    const c = new pg.Client({ connectionString: db!.url });
    await c.connect();
    const r = await c.query(
      'SELECT current_database() AS name, count(*)::int AS n FROM pg_tables WHERE schemaname = $1',
      ['public'],
    );
    await c.end();
    expect(r.rows[0]).toEqual({ name: db!.name, n: 0 });
  });
});

describe.skipIf(!redis)('Redis test namespace', () => {
  it('is isolated and cleaned up by prefix', async () => {
    await redis!.client.set(`${redis!.namespace}:probe`, '1');
    expect(await redis!.client.get(`${redis!.namespace}:probe`)).toBe('1');
  });
});
