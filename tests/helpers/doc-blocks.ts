/**
 * Fenced code blocks of a Markdown doc with the marker that precedes them:
 * `<!-- run: NAME -->` (run as written by tests/e2e/docs-commands.test.ts,
 * scenario NAME), `<!-- tested: tests/e2e/FILE.test.ts -->` (run by that test),
 * or `<!-- example: REASON -->` (cannot run here, and why).
 */
import { readFileSync } from 'node:fs';

export interface DocBlock {
  /** 1-based line of the opening fence. */
  line: number;
  /** The block's lines, de-indented to the fence. */
  lines: string[];
  marker: { kind: 'run' | 'tested' | 'example'; value: string } | null;
}

const MARKER = /^\s*<!--\s*(run|tested|example):\s*(.*?)\s*-->\s*$/;

export function docBlocks(file: string): DocBlock[] {
  const lines = readFileSync(file, 'utf8').split('\n');
  const out: DocBlock[] = [];
  let open: { line: number; indent: number; lines: string[]; marker: DocBlock['marker'] } | null = null;
  lines.forEach((l, i) => {
    const fence = /^(\s*)```/.exec(l);
    if (fence && !open) {
      let j = i - 1;
      while (j >= 0 && !lines[j]!.trim()) j--;
      const m = j >= 0 ? MARKER.exec(lines[j]!) : null;
      open = {
        line: i + 1,
        indent: fence[1]!.length,
        lines: [],
        marker: m ? { kind: m[1] as 'run' | 'tested' | 'example', value: m[2]! } : null,
      };
    } else if (fence && open) {
      out.push(open);
      open = null;
    } else if (open) {
      const cut = Math.min(open.indent, l.length - l.trimStart().length);
      open.lines.push(l.slice(cut));
    }
  });
  return out;
}

/** The lines of a block that run wks (a command at the start, after `&&`/`;`, or after cron fields). */
export function wksLines(b: DocBlock): string[] {
  return b.lines.filter((l) => /(^|&&\s*|;\s*|^(\S+\s+){5})wks\s/.test(l.trim()));
}
