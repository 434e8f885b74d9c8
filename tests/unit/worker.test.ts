/** The one worker-thread pattern (src/util/worker.ts), exercised from TypeScript source as the suite runs it. */
import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { hashAhead, hashFileInWorker } from '../../src/backup/codecs/hash-worker.js';
import { OperationError } from '../../src/errors.js';
import { workerPath } from '../../src/util/worker.js';
import { REPO } from '../helpers/cli.js';
import { tmpDir } from '../helpers/tmp.js';

describe('workerPath', () => {
  it('maps a caller running from src/*.ts to the built module in dist/', () => {
    const caller = pathToFileURL(path.join(REPO, 'src', 'copy', 'reader.ts')).href;
    expect(workerPath(caller, 'worker.js')).toBe(path.join(REPO, 'dist', 'copy', 'worker.js'));
  });

  it('uses the sibling module when the caller is built JavaScript', () => {
    const caller = pathToFileURL(path.join(REPO, 'dist', 'copy', 'reader.js')).href;
    expect(workerPath(caller, 'worker.js')).toBe(path.join(REPO, 'dist', 'copy', 'worker.js'));
  });

  it('a worker module that is not built is an error that says how to build it, never a silent inline run', () => {
    const caller = pathToFileURL(path.join(REPO, 'src', 'copy', 'reader.ts')).href;
    expect(() => workerPath(caller, 'no-such-worker.js')).toThrow(OperationError);
    expect(() => workerPath(caller, 'no-such-worker.js')).toThrow(/not built/);
  });
});

describe('hashFileInWorker', () => {
  it('hashes on a worker thread, equal to a hash on this thread', async () => {
    const file = path.join(tmpDir('wks-worker'), 'data.bin');
    const data = Buffer.alloc(3 * 1024 * 1024 + 17, 7);
    writeFileSync(file, data);
    const r = await hashFileInWorker(file);
    expect(r).toEqual({ size: data.length, sha256: createHash('sha256').update(data).digest('hex') });
  });

  it('rejects with the I/O error of a missing file', async () => {
    await expect(hashFileInWorker(path.join(tmpDir('wks-worker'), 'missing'))).rejects.toMatchObject({
      code: 'ENOENT',
    });
  });
});

describe('hashAhead', () => {
  const BIG = 64 << 20;
  it('starts its worker before the file exists and hashes the file handed over later', async () => {
    const file = path.join(tmpDir('wks-worker'), 'later.bin');
    const h = hashAhead(BIG);
    try {
      const data = Buffer.alloc(2 * 1024 * 1024 + 3, 9);
      writeFileSync(file, data); // written after the worker started
      expect(await h.hash(file)).toEqual({
        size: data.length,
        sha256: createHash('sha256').update(data).digest('hex'),
      });
    } finally {
      h.cancel();
    }
  });

  it('passes on the I/O error of the file it is handed', async () => {
    const h = hashAhead(BIG);
    try {
      await expect(h.hash(path.join(tmpDir('wks-worker'), 'missing'))).rejects.toMatchObject({ code: 'ENOENT' });
    } finally {
      h.cancel();
    }
  });

  it('a worker cancelled unused ends without an error; small or unknown sizes hash on this thread', async () => {
    hashAhead(BIG).cancel();
    const file = path.join(tmpDir('wks-worker'), 'small.bin');
    writeFileSync(file, 'abc');
    for (const h of [hashAhead(1000), hashAhead(null)])
      expect(await h.hash(file)).toEqual({ size: 3, sha256: createHash('sha256').update('abc').digest('hex') });
  });
});
