import { describe, it, expect, afterEach } from 'vitest';
import { readFileSync, renameSync, statSync } from 'node:fs';
import path from 'node:path';
import { RepeatFilter, createLogger, dependencyLog, repeating } from '../../src/log/index.js';
import { registerSecret, clearSecrets } from '../../src/redact.js';
import { tmpDir } from '../helpers/tmp.js';

afterEach(() => clearSecrets());

describe('RepeatFilter', () => {
  it('writes a repeated problem once, then one count per interval, and once when it clears', () => {
    let t = 0;
    const f = new RepeatFilter(10_000, () => t);
    const out: string[] = [];
    for (let i = 0; i < 60; i++) {
      t = i * 1000;
      for (const l of f.filter({ level: 'warn', message: 'redis down', fields: { key: 'lease' } })) out.push(l.message);
    }
    t = 61_000;
    for (const l of f.filter({ level: 'info', message: 'redis back', fields: { key: 'lease' } }))
      out.push(`${l.message} after ${l.fields?.after_repeats}`);
    expect(out[0]).toBe('redis down');
    expect(out.filter((m) => /repeated 10 times in the last 10 s/.test(m))).toHaveLength(5);
    expect(out.at(-1)).toBe('redis back after 59');
    expect(out.length).toBeLessThanOrEqual(7);
  });

  it('a new message for the same key is a change of state and is written', () => {
    const f = new RepeatFilter(60_000, () => 0);
    expect(f.filter({ level: 'error', message: 'a', fields: { key: 'k' } })).toHaveLength(1);
    expect(f.filter({ level: 'error', message: 'a', fields: { key: 'k' } })).toHaveLength(0);
    expect(f.filter({ level: 'error', message: 'b', fields: { key: 'k' } })).toHaveLength(1);
  });

  it('unkeyed problems are grouped by message; info lines always pass', () => {
    const f = new RepeatFilter(60_000, () => 0);
    expect(f.filter({ level: 'warn', message: 'x' })).toHaveLength(1);
    expect(f.filter({ level: 'warn', message: 'x' })).toHaveLength(0);
    expect(f.filter({ level: 'warn', message: 'y' })).toHaveLength(1);
    expect(f.filter({ level: 'info', message: 'i' })).toHaveLength(1);
    expect(f.filter({ level: 'info', message: 'i' })).toHaveLength(1);
  });
});

describe('dependencyLog through repeating', () => {
  it('a 60 s outage polled every second: once when it starts, a count per interval, once when it returns', () => {
    let t = 0;
    const out: Array<{ level: string; message: string; fields?: Record<string, unknown> }> = [];
    const dep = dependencyLog(
      repeating(
        (level, message, fields) => out.push({ level, message, fields }),
        10_000,
        () => t,
      ),
      'Redis',
    );
    dep.success(); // answering from the start: nothing to say
    for (let i = 0; i < 60; i++) {
      t = i * 1000;
      dep.failure(new Error(i < 30 ? 'ETIMEDOUT' : 'ECONNREFUSED')); // a changing error is not a change of state
    }
    t = 61_000;
    dep.success();
    dep.success();
    expect(out[0]).toMatchObject({ level: 'warn', message: 'Redis is unavailable', fields: { error: 'ETIMEDOUT' } });
    const summaries = out.filter((l) => /^Redis is unavailable \(repeated 10 times in the last 10 s; /.test(l.message));
    expect(summaries).toHaveLength(5);
    expect(summaries.at(-1)!.fields).toMatchObject({ error: 'ECONNREFUSED', repeats: 10 }); // the last error
    expect(out.at(-1)).toMatchObject({
      level: 'info',
      message: 'Redis is available again',
      fields: { after_repeats: 59, after_ms: 61_000 },
    });
    expect(out).toHaveLength(7);
  });
});

describe('createLogger', () => {
  it('JSON lines through the redaction of all output, honouring the level', async () => {
    const lines: string[] = [];
    const logger = await createLogger({ level: 'warn', json: true, stream: { write: (s: string) => lines.push(s) } });
    registerSecret('hunter2-very-secret');
    logger.log('info', 'not written');
    logger.log('warn', 'connect postgres://wks:pw123@db:5432/x failed', { token: 'hunter2-very-secret' });
    expect(lines).toHaveLength(1);
    const doc = JSON.parse(lines[0]!);
    expect(doc).toMatchObject({ level: 'warn', msg: 'connect postgres://wks:****@db:5432/x failed', token: '****' });
    expect(lines[0]).not.toMatch(/pw123|hunter2/);
  });

  it('a file (0600) that reopen() starts afresh after a move, losing no line', async () => {
    const dir = tmpDir('wks-log');
    const file = path.join(dir, 'logs', 'wks.log');
    const logger = await createLogger({ level: 'info', file });
    for (let i = 0; i < 50; i++) logger.log('info', `line ${i}`);
    renameSync(file, `${file}.1`);
    for (let i = 50; i < 60; i++) logger.log('info', `line ${i}`); // still the moved file, as after logrotate's move
    logger.reopen();
    for (let i = 60; i < 100; i++) logger.log('info', `line ${i}`);
    logger.close();
    const read = (f: string) =>
      readFileSync(f, 'utf8')
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l).msg as string);
    const old = read(`${file}.1`);
    const cur = read(file);
    expect(old).toEqual(Array.from({ length: 60 }, (_, i) => `line ${i}`));
    expect(cur).toEqual(Array.from({ length: 40 }, (_, i) => `line ${i + 60}`));
    expect(statSync(file).mode & 0o777).toBe(0o600);
  });
});
