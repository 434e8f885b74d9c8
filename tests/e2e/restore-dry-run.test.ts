/**
 * `wks backup restore --dry-run`, and a restore whose question is not answered yes, write nothing
 * beside the target: the directory holding the database is byte-for-byte what it was, and no
 * temporary file appears in it even for a moment (watched with fs.watch while wks runs). The dry
 * run still verifies every byte (a flipped byte exits 3). A real restore, last, shows the watch sees
 * the files a restore does write there.
 */
import { describe, it, expect, beforeAll } from 'vitest';
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync, watch, writeFileSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { spawn } from 'node:child_process';
import { baseEnv, REPO, runWks, WKS_BIN, type RunResult } from '../helpers/cli.js';
import { tmpDir } from '../helpers/tmp.js';

/** Every entry of `dir` with its mode and content hash. */
function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const n of readdirSync(dir).sort()) {
    const f = path.join(dir, n);
    const st = statSync(f);
    out[n] =
      `${st.mode.toString(8)} ${st.size} ${st.isFile() ? createHash('sha256').update(readFileSync(f)).digest('hex') : 'dir'}`;
  }
  return out;
}

/**
 * Run wks while watching `dir`: the names of every entry created, changed or removed in it meanwhile,
 * except SQLite's own `-wal`/`-shm` of the database (wks reads the configured database's identity to
 * tell its backups from other databases'; SQLite creates and removes those while it reads a WAL
 * database). The snapshot comparison before/after still covers them.
 */
async function watched(dir: string, args: string[], env: Record<string, string>): Promise<[RunResult, string[]]> {
  const seen: string[] = [];
  const w = watch(dir, (_event, name) => {
    if (!/^app\.db-(wal|shm)$/.test(String(name))) seen.push(String(name));
  });
  try {
    const r = await runWks(args, { env });
    // Let the last events arrive.
    await new Promise((res) => setTimeout(res, 200));
    return [r, seen];
  } finally {
    w.close();
  }
}

describe('restore --dry-run / an unconfirmed restore touch nothing beside the target (e2e)', () => {
  let target: string;
  let env: Record<string, string>;
  const ids: Record<string, string> = {};

  beforeAll(async () => {
    target = tmpDir('e2e-dry-target');
    // The backups live elsewhere: the target's directory holds only the database.
    env = { DATABASE_PATH: path.join(target, 'app.db'), BACKUP_STORAGE_PATH: path.join(tmpDir('e2e-dry-bk'), 'b') };
    expect((await runWks(['migrate', 'up', '--no-backup'], { env })).code).toBe(0);
    const db = new Database(env.DATABASE_PATH!);
    const ins = db.prepare('INSERT INTO users (username, email, password_hash) VALUES (?, ?, ?)');
    db.transaction(() => {
      for (let i = 0; i < 2000; i++) ins.run(`u${i}`, `u${i}@example.com`, 'h'.repeat(100));
    })();
    db.close();
    for (const codec of ['none', 'gzip']) {
      const c = await runWks(['backup', 'create', '--compress', codec, '--json'], { env });
      expect(c.code, c.stderr).toBe(0);
      ids[codec] = c.json().backup.id;
    }
  });

  it.each(['none', 'gzip'])(
    '--dry-run of a %s backup verifies it and leaves the directory unchanged',
    async (codec) => {
      const before = snapshot(target);
      const [r, seen] = await watched(target, ['backup', 'restore', ids[codec]!, '--dry-run', '--json'], env);
      expect(r.code, r.stderr).toBe(0);
      expect(r.json()).toMatchObject({
        dry_run: true,
        cancelled: true,
        backup_id: ids[codec],
        verification: { ok: true },
      });
      expect(seen).toEqual([]);
      expect(snapshot(target)).toEqual(before);
    },
  );

  it('declined (no --yes off a terminal): exit 2 before anything is written beside the target', async () => {
    const before = snapshot(target);
    const [r, seen] = await watched(target, ['backup', 'restore', ids.gzip!], env);
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toMatch(/refusing to replace .* without confirmation/);
    expect(seen).toEqual([]);
    expect(snapshot(target)).toEqual(before);
  });

  it('declined at the terminal prompt (answer n, under `script`): exit 1, nothing written beside the target', async () => {
    const before = snapshot(target);
    const seen: string[] = [];
    const w = watch(target, (_e, name) => {
      if (!/^app\.db-(wal|shm)$/.test(String(name))) seen.push(String(name));
    });
    const run = await new Promise<{ code: number | null; out: string }>((resolve) => {
      const cmd = `${JSON.stringify(process.execPath)} ${JSON.stringify(WKS_BIN)} backup restore ${ids.gzip}`;
      const child = spawn('script', ['-qec', cmd, '/dev/null'], { cwd: REPO, env: baseEnv(env) });
      let out = '';
      let answered = false;
      child.stdout.on('data', (b: Buffer) => {
        out += b.toString();
        if (!answered && out.includes('Replace')) {
          answered = true;
          child.stdin.write('n\r');
        }
      });
      const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
      child.on('close', (code) => {
        clearTimeout(timer);
        resolve({ code, out });
      });
    });
    await new Promise((res) => setTimeout(res, 200));
    w.close();
    expect(run.out).toContain('Replace');
    expect(run.out).toContain('cancelled; nothing changed');
    expect(run.code, run.out).toBe(1);
    expect(seen).toEqual([]);
    expect(snapshot(target)).toEqual(before);
  });

  it.each(['none', 'gzip'])(
    '--dry-run of a %s backup with one flipped byte exits 3, directory unchanged',
    async (codec) => {
      const dir = env.BACKUP_STORAGE_PATH!;
      const data = readdirSync(dir).find((n) => n.startsWith(ids[codec]!) && !n.endsWith('.json'))!;
      const file = path.join(dir, data);
      const bytes = readFileSync(file);
      const at = Math.floor(bytes.length / 2);
      bytes[at] = bytes[at]! ^ 0x01;
      writeFileSync(file, bytes);
      try {
        const before = snapshot(target);
        const [r, seen] = await watched(target, ['backup', 'restore', ids[codec]!, '--dry-run'], env);
        expect(r.code, r.stderr).toBe(3);
        expect(r.stderr).toMatch(/failed verification: checksum/);
        expect(seen).toEqual([]);
        expect(snapshot(target)).toEqual(before);
      } finally {
        bytes[at] = bytes[at]! ^ 0x01;
        writeFileSync(file, bytes);
      }
    },
  );

  it('the watch sees what a real restore writes beside the target', async () => {
    const [r, seen] = await watched(target, ['backup', 'restore', ids.gzip!, '--yes'], env);
    expect(r.code, r.stderr).toBe(0);
    // The temporary image, then the rename over app.db.
    expect(seen.some((n) => n !== 'app.db' && n.includes('app.db'))).toBe(true);
    expect(seen).toContain('app.db');
  });
});
