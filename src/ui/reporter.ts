/**
 * The one reporter: every command writes its output through this.
 *
 * Contract:
 *  - `--json`: exactly one JSON document on stdout (result(), resultStream()
 *    or the error handler writes it); nothing else ever goes to stdout.
 *  - Human output (tables, key/value blocks) goes to stdout; notes, warnings,
 *    spinners and progress go to stderr.
 *  - Colour only when stderr/stdout is a TTY and neither NO_COLOR nor
 *    --no-color is set. Spinners only when stderr is a TTY (and not --json/-q).
 *  - Every string is passed through redactText() before it is written.
 */
import { Chalk, type ChalkInstance } from 'chalk';
import { redactText, redactDeep } from '../redact.js';
import { UsageError, WksError } from '../errors.js';
import { renderTable, type Column } from './table.js';

export interface ReporterOptions {
  json?: boolean;
  color?: boolean;
  quiet?: boolean;
  verbose?: number;
  yes?: boolean;
  stdout?: NodeJS.WriteStream;
  stderr?: NodeJS.WriteStream;
  stdin?: NodeJS.ReadStream;
  env?: NodeJS.ProcessEnv;
}

export interface Progress {
  /** Replace the progress text, e.g. `copying 1.2 GiB / 3.4 GiB (35%)`. Throttled. */
  update(text: string): void;
  succeed(text?: string): void;
  fail(text?: string): void;
  /** Remove the spinner without a final line. */
  stop(): void;
}

export type { Column } from './table.js';

/** A JSON result written in batches (see Reporter.resultStream). */
export interface ResultStream<T> {
  /** Append items to the streamed array; resolves when stdout can take more (back-pressure). */
  write(items: Iterable<T>): Promise<void>;
  /** Close the array and the document with the summary's fields (redacted). */
  end(summary: object): Promise<void>;
}

export class Reporter {
  readonly json: boolean;
  readonly quiet: boolean;
  readonly verbose: number;
  readonly yes: boolean;
  readonly c: ChalkInstance;
  /** True when a person is watching stderr (spinners and prompts allowed). */
  readonly interactive: boolean;
  private readonly out: NodeJS.WriteStream;
  private readonly err: NodeJS.WriteStream;
  private readonly stdin: NodeJS.ReadStream;
  private resultWritten = false;
  /** The streamed result in progress: `opened` once its first bytes are on stdout. */
  private stream: { key: string; opened: boolean; first: boolean } | null = null;
  /** Set when stdout failed (EPIPE: the reader went away); later output is dropped. */
  private outClosed = false;

  constructor(opts: ReporterOptions = {}) {
    const env = opts.env ?? process.env;
    this.out = opts.stdout ?? process.stdout;
    this.err = opts.stderr ?? process.stderr;
    this.stdin = opts.stdin ?? process.stdin;
    this.json = !!opts.json;
    this.quiet = !!opts.quiet;
    this.verbose = opts.verbose ?? 0;
    this.yes = !!opts.yes;
    const noColor = opts.color === false || (env.NO_COLOR !== undefined && env.NO_COLOR !== '') || env.TERM === 'dumb';
    const forced = env.FORCE_COLOR !== undefined && env.FORCE_COLOR !== '0' && !noColor;
    this.c = new Chalk({ level: !noColor && (forced || this.err.isTTY) ? 2 : 0 });
    this.interactive = !!this.err.isTTY && !this.json && !this.quiet;
  }

  /** True when colour is on for stderr (a TTY, or FORCE_COLOR; never with NO_COLOR). */
  get colorEnabled(): boolean {
    return this.c.level > 0;
  }

  /** True when human output goes to a terminal (e.g. status icons); false off a TTY and with --json. */
  get stdoutIsTTY(): boolean {
    return !this.json && !!this.out.isTTY;
  }

  /**
   * Emit the command's result. With --json, `data` is written as the one JSON
   * document (redacted). Otherwise `human` renders it for people; when omitted,
   * nothing is printed for people.
   */
  result<T>(data: T, human?: (data: T, r: Reporter) => void): void {
    if (this.json) {
      if (this.resultWritten) throw new Error('reporter: a JSON result was already written');
      this.resultWritten = true;
      this.out.write(`${JSON.stringify(redactDeep(data), null, 2)}\n`);
      return;
    }
    this.resultWritten = true;
    // -q: a successful run prints nothing for people (cron mails only on failure); --json still prints.
    if (this.quiet) return;
    human?.(data, this);
  }

  /**
   * Stream a result too large to build in memory (--json only) as the one
   * JSON document `{ "<key>": [item, ...], ...summary }`: the array opens on
   * the first write(), each batch is written as it comes (one compact item
   * per line, honouring back-pressure, so memory stays proportional to a
   * batch), and end(summary) closes it. `item` maps each item before it is
   * serialised and must redact its free text (default: redactDeep).
   * If the command fails after the array was opened, the error handler's
   * fields are written into the same document (`], "ok": false, "error":
   * {...} }`): stdout still holds exactly one JSON document, the items so far
   * plus the error. A failure before the first write gets the plain error
   * document. Once stdout is closed (EPIPE, `| head`), output is dropped
   * quietly and the command carries on.
   * @throws Error when not in --json mode or a result was already written.
   */
  resultStream<T>(key: string, opts: { item?: (item: T) => unknown } = {}): ResultStream<T> {
    if (!this.json) throw new Error('reporter: resultStream is for --json output');
    if (this.resultWritten) throw new Error('reporter: a JSON result was already written');
    this.resultWritten = true;
    const state = { key, opened: false, first: true };
    this.stream = state;
    this.out.on('error', () => {
      this.outClosed = true;
    });
    const toJson = opts.item ?? ((item: T) => redactDeep(item));
    return {
      write: async (items) => {
        let chunk = state.opened ? '' : this.openStream(state);
        for (const item of items) {
          chunk += `${state.first ? '\n    ' : ',\n    '}${JSON.stringify(toJson(item))}`;
          state.first = false;
        }
        await this.writeOut(chunk);
      },
      end: async (summary) => {
        if (this.stream !== state) throw new Error('reporter: the result stream has already ended');
        this.stream = null;
        await this.writeOut(this.closeStream(state, summary));
      },
    };
  }

  /** Write the JSON error document (used only by the top-level handler); merged into an open result stream. */
  jsonError(doc: object): void {
    if (!this.json) return;
    const stream = this.stream;
    if (stream?.opened) {
      this.stream = null;
      void this.writeOut(this.closeStream(stream, doc));
      return;
    }
    if (this.resultWritten && !stream) return;
    this.stream = null;
    this.resultWritten = true;
    void this.writeOut(`${JSON.stringify(redactDeep(doc), null, 2)}\n`);
  }

  private openStream(state: { key: string; opened: boolean }): string {
    state.opened = true;
    return `{\n  ${JSON.stringify(state.key)}: [`;
  }

  /** `]` plus the fields of `fields` (pretty-printed like result()) and `}`. */
  private closeStream(state: { key: string; opened: boolean; first: boolean }, fields: object): string {
    const head = state.opened ? '' : this.openStream(state);
    const members = JSON.stringify(redactDeep(fields), null, 2).slice(1).replace(/^\n/, '');
    return `${head}${state.first ? '' : '\n  '}]${members === '}' ? '\n}' : `,\n${members}`}\n`;
  }

  /** Write to stdout; the promise resolves when it can take more (drain), or at once once it is closed. */
  private writeOut(text: string): Promise<void> | void {
    if (this.outClosed || this.out.write(text)) return;
    return new Promise((resolve) => {
      const done = (): void => {
        this.out.off('drain', done).off('close', done).off('error', done);
        resolve();
      };
      this.out.on('drain', done).on('close', done).on('error', done);
    });
  }

  /** A line of human output on stdout (suppressed with --json). */
  line(text = ''): void {
    if (this.json) return;
    this.out.write(`${redactText(text)}\n`);
  }

  /** A table on stdout (suppressed with --json). */
  table<R extends object>(rows: R[], columns: Column<R>[], opts: { empty?: string } = {}): void {
    if (this.json) return;
    if (rows.length === 0) {
      if (opts.empty) this.line(this.c.dim(opts.empty));
      return;
    }
    this.out.write(`${redactText(renderTable(rows, columns, this.c))}\n`);
  }

  /** Aligned `key  value` pairs on stdout (suppressed with --json). */
  keyValues(pairs: Array<[string, unknown]>): void {
    if (this.json) return;
    const width = Math.max(0, ...pairs.map(([k]) => k.length));
    for (const [k, v] of pairs)
      this.line(`${this.c.bold(k.padEnd(width))}  ${v === null || v === undefined ? this.c.dim('-') : String(v)}`);
  }

  /** An informational note on stderr (suppressed by -q). */
  info(text: string): void {
    if (this.quiet) return;
    if (this.json && this.logSink) this.logSink('info', text);
    else this.err.write(`${redactText(text)}\n`);
  }

  /** A success note on stderr (suppressed by -q). */
  success(text: string): void {
    if (this.quiet) return;
    if (this.json && this.logSink) {
      this.logSink('info', text);
      return;
    }
    this.err.write(`${this.c.green('✔')} ${redactText(text)}\n`);
  }

  /** A warning on stderr (shown even with -q). */
  warn(text: string): void {
    if (this.json && this.logSink) {
      this.logSink('warn', text);
      return;
    }
    this.err.write(`${this.c.yellow('warning:')} ${redactText(text)}\n`);
  }

  /** Detail for -v: through the structured logger once one is attached (attachLogger), else dimmed on stderr. */
  debug(text: string): void {
    if (this.verbose <= 0) return;
    if (this.logSink) this.logSink('debug', text);
    else this.err.write(`${this.c.dim(redactText(text))}\n`);
  }

  private logSink: ((level: 'debug' | 'info' | 'warn', message: string) => void) | null = null;

  /**
   * Route debug() lines through a structured logger (set up by the command
   * context for -v); with --json, info, success and warning notes too, so
   * stderr is JSON lines only.
   */
  attachLogger(sink: (level: 'debug' | 'info' | 'warn', message: string) => void): void {
    this.logSink = sink;
  }

  /** Raw write to stderr, redacted (the error handler uses this). */
  stderr(text: string): void {
    this.err.write(redactText(text));
  }

  /**
   * Start a progress indicator. On a TTY it is an ora spinner on stderr;
   * otherwise updates are dropped and only the final succeed/fail line is
   * printed (unless --json or -q). Never writes to stdout.
   */
  async progress(text: string): Promise<Progress> {
    // A terminal that reports no width (e.g. under `script`) makes ora redraw endlessly: no spinner there.
    if (!this.interactive || !this.err.columns) {
      const quiet = this.quiet || this.json;
      return {
        update: () => undefined,
        succeed: (t) => {
          if (!quiet && t) this.success(t);
        },
        fail: (t) => {
          if (t) this.err.write(`${this.c.red('✖')} ${redactText(t)}\n`);
        },
        stop: () => undefined,
      };
    }
    const { default: ora } = await import('ora');
    const spinner = ora({ text: redactText(text), stream: this.err, color: 'cyan' }).start();
    let last = 0;
    return {
      update: (t) => {
        const now = Date.now();
        if (now - last < 80) return;
        last = now;
        spinner.text = redactText(t);
      },
      succeed: (t) => void spinner.succeed(t ? redactText(t) : undefined),
      fail: (t) => void spinner.fail(t ? redactText(t) : undefined),
      stop: () => void spinner.stop(),
    };
  }

  /**
   * Ask before a destructive action. With --yes: proceeds. Without a TTY:
   * refuses with a UsageError (exit 2) naming --yes. On a TTY: asks with
   * @inquirer/prompts (default No). Returns false when the person declines.
   */
  /** True when `confirm` will really ask a person (a terminal, no --yes, no --json). */
  get asksPerson(): boolean {
    return !this.yes && !!this.stdin.isTTY && !!this.err.isTTY && !this.json;
  }

  async confirm(question: string, opts: { action?: string } = {}): Promise<boolean> {
    if (this.yes) return true;
    if (!this.stdin.isTTY || !this.err.isTTY || this.json) {
      throw new UsageError(`refusing to ${opts.action ?? 'continue'} without confirmation: no terminal to ask on`, {
        hint: 're-run with --yes (-y) to confirm non-interactively',
      });
    }
    const { confirm } = await import('@inquirer/prompts');
    let ok: boolean;
    try {
      ok = await confirm({ message: redactText(question), default: false }, { output: this.err, input: this.stdin });
    } catch (err) {
      // Ctrl-C at the prompt: the same exit as an interrupt (130), nothing changed.
      if ((err as Error)?.name === 'ExitPromptError')
        throw new WksError(`cancelled at the prompt (Ctrl-C); nothing was changed`, 130, {
          hint: `re-run it and answer y to ${opts.action ?? 'continue'}`,
        });
      throw err;
    }
    // Declining is not success: the command reports what it left in place, and cli.ts exits 1.
    if (!ok) this.declined = true;
    return ok;
  }

  /** True once a person answered no at a confirmation prompt (the command then exits 1, docs/exit-codes.md). */
  declined = false;
}
