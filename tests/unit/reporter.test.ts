import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { Reporter } from '../../src/ui/reporter.js';

function capture(): { out: NodeJS.WriteStream; text: () => string } {
  const s = new PassThrough();
  let buf = '';
  s.on('data', (d: Buffer) => (buf += d.toString()));
  return { out: s as unknown as NodeJS.WriteStream, text: () => buf };
}

describe('Reporter.resultStream', () => {
  it('writes one JSON document: the streamed array then the summary fields', async () => {
    const { out, text } = capture();
    const r = new Reporter({ json: true, stdout: out, stderr: capture().out });
    const s = r.resultStream<{ id: number; url: string }>('items');
    await s.write([{ id: 1, url: 'postgres://u:secret@h/db' }]);
    await s.write([]);
    await s.write([{ id: 2, url: 'x' }]);
    await s.end({ count: 2, ok: true });
    const doc = JSON.parse(text());
    expect(doc).toEqual({
      items: [
        { id: 1, url: 'postgres://u:****@h/db' },
        { id: 2, url: 'x' },
      ],
      count: 2,
      ok: true,
    });
    expect(() => r.result({})).toThrow(/already written/);
    r.jsonError({ ok: false });
    expect(JSON.parse(text())).toEqual(doc);
  });

  it('an empty stream is still a document', async () => {
    const { out, text } = capture();
    const r = new Reporter({ json: true, stdout: out, stderr: capture().out });
    await r.resultStream('items').end({});
    expect(JSON.parse(text())).toEqual({ items: [] });
  });

  it('an error after streaming began is merged into the same document', async () => {
    const { out, text } = capture();
    const r = new Reporter({ json: true, stdout: out, stderr: capture().out });
    await r.resultStream<number>('items').write([1, 2]);
    r.jsonError({ ok: false, error: { code: 'dependency', message: 'redis went away' } });
    expect(JSON.parse(text())).toEqual({
      items: [1, 2],
      ok: false,
      error: { code: 'dependency', message: 'redis went away' },
    });
  });

  it('an error before the first write gets the plain error document', () => {
    const { out, text } = capture();
    const r = new Reporter({ json: true, stdout: out, stderr: capture().out });
    r.resultStream<number>('items');
    r.jsonError({ ok: false, error: { code: 'dependency' } });
    expect(JSON.parse(text())).toEqual({ ok: false, error: { code: 'dependency' } });
  });

  it('waits for drain under back-pressure, and a closed stdout (EPIPE) ends the output without hanging', async () => {
    const slow = new PassThrough({ highWaterMark: 16 });
    const r = new Reporter({ json: true, stdout: slow as unknown as NodeJS.WriteStream, stderr: capture().out });
    const s = r.resultStream<number>('items');
    let done = false;
    const pending = s.write(Array.from({ length: 100 }, (_, i) => i)).then(() => (done = true));
    await new Promise((res) => setImmediate(res));
    expect(done).toBe(false);
    slow.destroy(Object.assign(new Error('write EPIPE'), { code: 'EPIPE' }));
    await pending;
    await s.write([1]);
    await s.end({ count: 101 });
  });

  it('refuses without --json', () => {
    const r = new Reporter({ stdout: capture().out, stderr: capture().out });
    expect(() => r.resultStream('items')).toThrow(/--json/);
  });
});
