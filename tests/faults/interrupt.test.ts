/**
 * Plaintext and interruption: an encrypted backup's decoded image never
 * lands in the backup directory, and what a killed (-9) verify left in its
 * private scratch directory is gone once the next wks command has run.
 * SIGTERM / SIGINT during an encrypted create, a verify and a PostgreSQL
 * create: exit 143 / 130, no plaintext, no passfile, no child process, no
 * backup mutex left. Spawns the built bin/wks.js (build first).
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, readSync, statSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import { runWks, baseEnv, WKS_BIN, REPO } from '../helpers/cli.js';
import { tmpDir } from '../helpers/tmp.js';
import { createTestDatabase, TEST_PG_URL, type TestDatabase } from '../helpers/services.js';

const KEY = 'interrupt test passphrase';
const SQLITE_MAGIC = Buffer.from('SQLite format 3\0');
const PGDMP_MAGIC = Buffer.from('PGDMP');

/** Every regular file under `dir` (recursive), [] when it does not exist. */
function walk(dir: string): string[] {
  if (!existsSync(dir)) return [];
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...walk(p));
    else if (e.isFile()) out.push(p);
  }
  return out;
}

/** Files under `dir` that start like a SQLite database or a pg_dump archive: plaintext. */
function plaintextFiles(dir: string): string[] {
  return walk(dir).filter((f) => {
    try {
      const fd = openSync(f, 'r');
      const b = Buffer.alloc(16);
      const n = readSync(fd, b, 0, 16, 0);
      closeSync(fd);
      return (
        n >= 5 && (b.subarray(0, SQLITE_MAGIC.length).equals(SQLITE_MAGIC) || b.subarray(0, 5).equals(PGDMP_MAGIC))
      );
    } catch {
      return false; // removed while we looked
    }
  });
}

/** Live processes whose parent is `ppid` (from /proc), as [pid, comm]. */
function childrenOf(ppid: number): Array<[number, string]> {
  const out: Array<[number, string]> = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const m = /^\d+ \((.*)\) (\S) (\d+)/.exec(stat);
      if (m && Number(m[3]) === ppid && m[2] !== 'Z') out.push([Number(name), m[1]!]);
    } catch {
      /* gone */
    }
  }
  return out;
}

/** Whether `pid` is still a live (non-zombie) process, polled for up to 5 s: a SIGKILLed child takes a moment to go. */
async function stillAlive(pid: number): Promise<boolean> {
  const deadline = Date.now() + 5000;
  while (Date.now() < deadline) {
    if (!alive(pid)) return false;
    await new Promise((r) => setTimeout(r, 20));
  }
  return alive(pid);
}

const alive = (pid: number): boolean => {
  try {
    const st = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/^\d+ \(.*\) Z/.test(st);
  } catch {
    return false;
  }
};

/**
 * Spawn wks with `args`; while it runs, call `watch()` every few ms (it may
 * throw to fail the test); once `when(pid)` is true send `signal`. Resolves
 * with the exit status, whether the signal was sent, and the children seen
 * at that moment.
 */
function runAndSignal(
  args: string[],
  env: Record<string, string>,
  when: (pid: number) => boolean,
  signal: NodeJS.Signals,
  watch: () => void = () => undefined,
): Promise<{ sent: boolean; code: number | null; sig: NodeJS.Signals | null; stderr: string; children: number[] }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [WKS_BIN, ...args], {
      cwd: REPO,
      env: baseEnv(env),
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    let sent = false;
    let children: number[] = [];
    let failure: unknown = null;
    const start = Date.now();
    const timer = setInterval(() => {
      if (child.exitCode !== null || sent) return;
      try {
        watch();
      } catch (err) {
        failure = err;
      }
      let hit = false;
      try {
        hit = when(child.pid!);
      } catch {
        hit = false;
      }
      if (hit || Date.now() - start > 60_000) {
        children = childrenOf(child.pid!).map(([p]) => p);
        sent = child.kill(signal);
        clearInterval(timer);
      }
    }, 3);
    child.on('close', (code, sig) => {
      clearInterval(timer);
      if (failure) reject(failure);
      else resolve({ sent, code, sig, stderr, children });
    });
  });
}

/** A migrated WAL-mode SQLite database of about `mb` MB. */
async function bigDb(env: Record<string, string>, mb: number): Promise<void> {
  const m = await runWks(['migrate', 'up', '--no-backup'], { env });
  expect(m.code, m.stderr).toBe(0);
  const db = new Database(env.DATABASE_PATH!);
  db.pragma('journal_mode = WAL');
  const ins = db.prepare("INSERT INTO workflows (name, description, status) VALUES (?, ?, 'active')");
  db.transaction(() => {
    for (let i = 0; i < mb * 1000; i++) ins.run(`wf${i}`, `workflow ${i} `.padEnd(1000, 'x'));
  })();
  db.close();
}

/** Scratch directories under the test's TMPDIR (`wks-<uid>/<pid>-*`). */
const scratchDirs = (tmp: string): string[] => {
  const root = path.join(tmp, `wks-${process.getuid!()}`);
  return existsSync(root) ? readdirSync(root).map((n) => path.join(root, n)) : [];
};
const scratchHasData = (tmp: string): boolean =>
  scratchDirs(tmp).some((d) => readdirSync(d).some((f) => statSync(path.join(d, f)).size > 1 << 20));

describe('encrypted SQLite backups: plaintext never in the repository, never outlives the process', () => {
  let env: Record<string, string>;
  let bk: string;
  let tmp: string;
  let id: string;
  beforeAll(async () => {
    const dir = tmpDir('interrupt');
    tmp = path.join(dir, 'tmp');
    mkdirSync(tmp);
    bk = path.join(dir, 'backups');
    env = {
      DATABASE_PATH: path.join(dir, 'app.db'),
      BACKUP_STORAGE_PATH: bk,
      BACKUP_ENCRYPTION_KEY: KEY,
      TMPDIR: tmp,
    };
    await bigDb(env, 30);
    const c = await runWks(['backup', 'create', '--compress', 'gzip', '--encrypt', '--json'], {
      env,
      timeoutMs: 120_000,
    });
    expect(c.code, c.stderr).toBe(0);
    id = c.json().backup.id;
  }, 180_000);

  const noPlaintextInRepo = (): void => {
    const p = plaintextFiles(bk);
    if (p.length) throw new Error(`plaintext inside the backup directory: ${p.join(', ')}`);
  };

  it('kill -9 during verify, 10 times: never plaintext in the repository; none anywhere after the next command', async () => {
    for (let round = 0; round < 10; round++) {
      // Kill at different points: as soon as the decoded image grows, or a little later.
      const delay = (round % 3) * 60;
      let seenAt = 0;
      const k = await runAndSignal(
        ['backup', 'verify', id],
        env,
        () => {
          if (!scratchHasData(tmp)) return false;
          seenAt ||= Date.now();
          return Date.now() - seenAt >= delay;
        },
        'SIGKILL',
        noPlaintextInRepo,
      );
      expect(k.sent, `round ${round}: verify finished before the kill\n${k.stderr}`).toBe(true);
      expect(plaintextFiles(tmp).length, `round ${round}: the killed verify left its decoded image`).toBeGreaterThan(0);
      noPlaintextInRepo();
      // The next wks command that holds the backup mutex or starts a verify removes it.
      const next =
        round % 2 === 0
          ? await runWks(['backup', 'verify', id], { env, timeoutMs: 120_000 })
          : await runWks(['backup', 'create', '--compress', 'gzip', '--encrypt'], { env, timeoutMs: 120_000 });
      expect(next.code, next.stderr).toBe(0);
      expect(plaintextFiles(tmp), `round ${round}`).toEqual([]);
      expect(plaintextFiles(bk), `round ${round}`).toEqual([]);
      expect(scratchDirs(tmp), `round ${round}: scratch directories left`).toEqual([]);
    }
  }, 600_000);

  it('the scratch directory and its files are private (0700 / 0600) while a verify runs', async () => {
    let modes: string[] = [];
    const k = await runAndSignal(
      ['backup', 'verify', id],
      env,
      () => {
        if (!scratchHasData(tmp)) return false;
        const root = path.join(tmp, `wks-${process.getuid!()}`);
        modes = [root, ...scratchDirs(tmp), ...walk(root)].map(
          (p) => `${path.relative(tmp, p)} ${(statSync(p).mode & 0o777).toString(8)}`,
        );
        return true;
      },
      'SIGTERM',
    );
    expect(k.sent).toBe(true);
    expect(modes.length).toBeGreaterThanOrEqual(3);
    for (const m of modes) expect(m).toMatch(/ (700|600)$/);
  }, 120_000);

  for (const [sig, code] of [
    ['SIGTERM', 143],
    ['SIGINT', 130],
  ] as const) {
    it(`${sig} during an encrypted create: exit ${code}, no plaintext, no temp file, no lock left`, async () => {
      const before = readdirSync(bk).sort();
      const k = await runAndSignal(
        ['backup', 'create', '--compress', 'gzip', '--encrypt'],
        env,
        () => scratchHasData(tmp),
        sig,
        noPlaintextInRepo,
      );
      expect(k.sent, k.stderr).toBe(true);
      expect(k.code, k.stderr).toBe(code);
      expect(k.stderr).toMatch(new RegExp(`interrupted by ${sig}`));
      expect(k.stderr).not.toMatch(/\n\s+at /);
      expect(plaintextFiles(tmp)).toEqual([]);
      expect(scratchDirs(tmp)).toEqual([]);
      // Nothing new in the repository: no partial backup, no temp name, no lock.
      expect(readdirSync(bk).sort()).toEqual(before);
      for (const c of k.children) expect(await stillAlive(c), `child ${c} still running`).toBe(false);
    }, 120_000);

    it(`${sig} during verify: exit ${code}, the decoded image is removed at once`, async () => {
      const before = readdirSync(bk).sort();
      const k = await runAndSignal(['backup', 'verify', id], env, () => scratchHasData(tmp), sig, noPlaintextInRepo);
      expect(k.sent, k.stderr).toBe(true);
      expect(k.code, k.stderr).toBe(code);
      expect(plaintextFiles(tmp)).toEqual([]);
      expect(scratchDirs(tmp)).toEqual([]);
      expect(readdirSync(bk).sort()).toEqual(before);
    }, 120_000);

    it(`${sig} during restore --to: exit ${code}, the decrypted image beside the target is removed at once`, async () => {
      const target = path.join(path.dirname(bk), `restored-${sig}`);
      mkdirSync(target);
      const staged = (): string[] => readdirSync(target).filter((n) => n.startsWith('.wks-tmp-'));
      const k = await runAndSignal(
        ['backup', 'restore', id, '--to', path.join(target, 'app.db'), '--yes'],
        env,
        () => staged().some((n) => statSync(path.join(target, n)).size > 1 << 20),
        sig,
        noPlaintextInRepo,
      );
      expect(k.sent, k.stderr).toBe(true);
      expect(k.code, k.stderr).toBe(code);
      expect(readdirSync(target)).toEqual([]);
      expect(scratchDirs(tmp)).toEqual([]);
    }, 120_000);
  }

  it('zstd: SIGTERM during a compressed create kills the zstd child', async () => {
    const zstd = (process.env.PATH ?? '').split(':').some((d) => existsSync(path.join(d, 'zstd')));
    if (!zstd) return;
    const k = await runAndSignal(
      ['backup', 'create', '--compress', 'zstd', '--encrypt'],
      env,
      (pid) => childrenOf(pid).some(([, comm]) => comm === 'zstd'),
      'SIGTERM',
      noPlaintextInRepo,
    );
    expect(k.sent, k.stderr).toBe(true);
    expect(k.code, k.stderr).toBe(143);
    expect(k.children.length).toBeGreaterThan(0);
    for (const c of k.children) expect(await stillAlive(c), `child ${c} still running`).toBe(false);
    expect(plaintextFiles(tmp)).toEqual([]);
  }, 120_000);
});

const db: TestDatabase | null = await createTestDatabase('interrupt_pg');
afterAll(async () => {
  await db?.drop();
});

describe.runIf(!!db)('PostgreSQL create: SIGTERM / SIGINT kill pg_dump and remove the passfile', () => {
  let env: Record<string, string>;
  let tmp: string;
  let bk: string;
  beforeAll(async () => {
    const dir = tmpDir('interrupt-pg');
    tmp = path.join(dir, 'tmp');
    mkdirSync(tmp);
    bk = path.join(dir, 'backups');
    env = { ...db!.env, BACKUP_STORAGE_PATH: bk, BACKUP_ENCRYPTION_KEY: KEY, TMPDIR: tmp };
    const m = await runWks(['migrate', 'up', '--no-backup'], { env });
    expect(m.code, m.stderr).toBe(0);
    const u = new URL(TEST_PG_URL);
    u.pathname = `/${db!.name}`;
    const c = new pg.Client({ connectionString: u.toString() });
    await c.connect();
    await c.query(`CREATE TABLE bulk (id bigint PRIMARY KEY, payload text NOT NULL)`);
    await c.query(`INSERT INTO bulk SELECT g, md5(g::text) || repeat('p', 300) FROM generate_series(1, 150000) g`);
    await c.end();
  }, 180_000);

  for (const [sig, code] of [
    ['SIGTERM', 143],
    ['SIGINT', 130],
  ] as const) {
    it(`${sig}: exit ${code}, no pg_dump left running, no passfile, no plaintext`, async () => {
      const passfiles = (): string[] => walk(tmp).filter((f) => path.basename(f) === 'pgpass');
      const k = await runAndSignal(
        ['backup', 'create', '--compress', 'none', '--encrypt'],
        env,
        (pid) => childrenOf(pid).some(([, comm]) => comm === 'pg_dump') && passfiles().length > 0,
        sig,
      );
      expect(k.sent, k.stderr).toBe(true);
      expect(k.code, k.stderr).toBe(code);
      expect(k.children.length).toBeGreaterThan(0);
      for (const c of k.children) expect(await stillAlive(c), `pg_dump ${c} still running`).toBe(false);
      expect(passfiles(), 'passfile left').toEqual([]);
      expect(plaintextFiles(tmp), 'plaintext in TMPDIR').toEqual([]);
      expect(plaintextFiles(bk), 'plaintext in the repository').toEqual([]);
      // The lock is released. An encrypted temp file whose open was still in flight when the signal
      // came can outlive the process (the kernel finishes the open after the cleanup): it holds no
      // plaintext, carries the dead pid in its name, and the next run that holds the lock removes it.
      expect(
        readdirSync(bk).filter((n) => n.startsWith('.wks') && !n.startsWith('.wks-tmp-')),
        'lock left',
      ).toEqual([]);
      const next = await runWks(['backup', 'create', '--compress', 'none', '--encrypt'], { env, timeoutMs: 120_000 });
      expect(next.code, next.stderr).toBe(0);
      expect(
        readdirSync(bk).filter((n) => n.startsWith('.wks')),
        'temp files left after the next run',
      ).toEqual([]);
    }, 120_000);
  }
});
