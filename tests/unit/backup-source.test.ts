/** Which backups belong to the configured database (src/backup/source.ts): keys first, then location and host. */
import { describe, it, expect } from 'vitest';
import {
  adoptPredecessor,
  isBackupOf,
  manifestIdentity,
  matchesSourceFilter,
  sourceLabel,
} from '../../src/backup/source.js';
import type { CatalogEntry, Manifest, SourceIdentity } from '../../src/backup/types.js';

const base = { format: 'wks-backup/1', id: '20261129T000000Z-aaaa', hostname: 'h1' } as unknown as Manifest;
const m = (over: Partial<Manifest>): Manifest => ({ ...base, ...over }) as Manifest;
const src = (over: Partial<SourceIdentity>): SourceIdentity => ({
  engine: 'sqlite',
  key: 'sqlite:11111111-aaaa',
  location: '/srv/app.db',
  hostname: 'h1',
  ...over,
});
const ident = (over: Partial<SourceIdentity>) => ({ source_identity: src(over) });

describe('isBackupOf', () => {
  it('keys decide when both sides have one, whatever the path', () => {
    expect(isBackupOf(m({ engine: 'sqlite', ...ident({ location: '/elsewhere.db' }) }), src({}))).toBe(true);
    expect(isBackupOf(m({ engine: 'sqlite', ...ident({ key: 'sqlite:2222' }) }), src({}))).toBe(false);
  });
  it('never matches another engine', () => {
    expect(isBackupOf(m({ engine: 'postgres', ...ident({ engine: 'postgres' }) }), src({}))).toBe(false);
  });
  it('a missing database (no key) matches by path on the same host only', () => {
    const mine = m({ engine: 'sqlite', ...ident({}) });
    expect(isBackupOf(mine, src({ key: null }))).toBe(true);
    expect(isBackupOf(mine, src({ key: null, hostname: 'h2' }))).toBe(false);
    expect(isBackupOf(mine, src({ key: null, location: '/srv/other.db' }))).toBe(false);
  });
  it('older manifests (no identity) are attributed by source path and hostname, or PostgreSQL host:port/database', () => {
    const old = m({ engine: 'sqlite', source: '/srv/app.db' });
    expect(manifestIdentity(old)).toEqual({ engine: 'sqlite', key: null, location: '/srv/app.db', hostname: 'h1' });
    expect(isBackupOf(old, src({}))).toBe(true);
    expect(isBackupOf(old, src({ hostname: 'h2' }))).toBe(false);
    const pg = m({ engine: 'postgres', source: 'postgres://app:****@db.internal:5433/app', hostname: 'any' });
    const live = src({ engine: 'postgres', key: 'postgres:7313/app', location: 'db.internal:5433/app', hostname: 'x' });
    expect(isBackupOf(pg, live)).toBe(true);
    expect(isBackupOf(pg, { ...live, location: 'db.internal:5433/other' })).toBe(false);
  });
  it('labels and filters', () => {
    const x = m({ engine: 'sqlite', ...ident({ key: 'sqlite:1a2b3c4d-5e6f' }) });
    expect(sourceLabel(manifestIdentity(x))).toBe('sqlite:1a2b3c4d');
    for (const f of ['sqlite', 'sqlite:1a2b', 'sqlite:1a2b3c4d', '/srv/app.db'])
      expect(matchesSourceFilter(x, f)).toBe(true);
    expect(matchesSourceFilter(x, 'postgres')).toBe(false);
    expect(sourceLabel(manifestIdentity(m({ engine: 'sqlite', source: '/srv/app.db' })))).toBe('sqlite:h1:/srv/app.db');
  });
});

describe('adoptPredecessor (rule 4: a new host)', () => {
  const entry = (id: string, over: Partial<SourceIdentity>) =>
    ({ manifest: m({ id, engine: 'sqlite', ...ident(over) }) }) as unknown as CatalogEntry;
  const newHost = { ...src({ key: null, hostname: 'replacement' }), note: null, missing: true };
  it('adopts the one source of another host when the live database is missing', () => {
    const others = [entry('a', {}), entry('b', {})];
    expect(adoptPredecessor({ entries: [], others }, newHost)).toEqual({ entries: others, others: [] });
  });
  it('never adopts for an existing database that was never backed up (no identity yet)', () => {
    const others = [entry('a', {}), entry('b', {})];
    expect(adoptPredecessor({ entries: [], others }, { ...newHost, missing: false }).entries).toEqual([]);
  });
  it('chooses nothing with two candidate sources, or with a live identity (another path on this host is adopted only when its database is missing)', () => {
    const two = [entry('a', {}), entry('b', { key: 'sqlite:22222222-bbbb' })];
    expect(adoptPredecessor({ entries: [], others: two }, newHost).entries).toEqual([]);
    expect(
      adoptPredecessor({ entries: [], others: [entry('a', {})] }, { ...src({}), note: null, missing: true }).entries,
    ).toEqual([]);
  });
});
