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

describe('Reporter.table', () => {
  it('aligns by visible width: colour codes and astral characters count as what is shown', () => {
    const { out, text } = capture();
    const r = new Reporter({ stdout: out, stderr: capture().out, env: { FORCE_COLOR: '1' } });
    const rows = [
      { id: 7, who: 'w\u{1F600}x', note: 'plain' },
      { id: 12345, who: 'worker-1', note: 'é' },
    ];
    r.table(rows, [
      { header: 'ID', value: 'id', align: 'right' },
      { header: 'WHO', value: 'who', style: (t) => r.c.red(t) },
      { header: 'NOTE', value: 'note' },
    ]);
    // biome-ignore lint/suspicious/noControlCharactersInRegex: strips the colour codes the test asked for
    const plain = text().replace(/\u001b\[[0-9;]*m/g, '');
    expect(text()).toContain('\u001b[31m');
    expect(plain).toBe(
      ['   ID  WHO       NOTE ', '    7  w\u{1F600}x       plain', '12345  worker-1  é', ''].join('\n'),
    );
  });

  it('renders a table of 300k rows (cell widths are not spread into one call)', () => {
    const { out, text } = capture();
    const r = new Reporter({ stdout: out, stderr: capture().out, env: {} });
    const rows = Array.from({ length: 300_000 }, (_, i) => ({ id: i + 1, who: `worker-${i % 37}` }));
    r.table(rows, [
      { header: 'EXECUTION', value: 'id', align: 'right' },
      { header: 'WORKER', value: 'who' },
    ]);
    const lines = text().split('\n');
    expect(lines).toHaveLength(300_002);
    expect(lines[0]).toBe('EXECUTION  WORKER');
    expect(lines[300_000]).toBe('   300000  worker-3');
  });
});
