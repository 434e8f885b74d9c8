/**
 * What every command action receives: the global flags, the reporter, and a
 * lazy config loader (zod/yaml/croner are only imported when a command asks
 * for configuration).
 */
import type { Command } from 'commander';
import { Reporter } from '../ui/index.js';
import type { Config, LoadedConfig, LoadOptions } from '../config/index.js';
import type { AppLogger } from '../log/index.js';

export interface GlobalOptions {
  config?: string;
  json?: boolean;
  color?: boolean;
  quiet?: boolean;
  verbose?: number;
  yes?: boolean;
}

export type Overrides = NonNullable<LoadOptions['overrides']>;

export class CommandContext {
  readonly out: Reporter;
  /** The commander command being run (set by lazy(); `completion` reads the tree from it). */
  command: Command | null = null;
  private loaded?: LoadedConfig;

  constructor(
    readonly global: GlobalOptions,
    readonly env: NodeJS.ProcessEnv = process.env,
    readonly cwd: string = process.cwd(),
  ) {
    this.out = new Reporter({ ...global, env });
  }

  /** Load and validate configuration (once). Throws ConfigError (exit 78). Warnings are printed to stderr. */
  async loadConfig(overrides: Overrides = {}): Promise<LoadedConfig> {
    if (!this.loaded) {
      const { loadConfig } = await import('../config/index.js');
      this.loaded = loadConfig({ configPath: this.global.config, env: this.env, cwd: this.cwd, overrides });
      for (const w of this.loaded.warnings) this.out.warn(w);
      // -v: detail goes through the structured logger (LOG_FILE, --json lines).
      if (this.out.verbose > 0) {
        const logger = await this.logger();
        this.out.attachLogger((level, message) => logger.log(level, message));
      }
    }
    return this.loaded;
  }

  /**
   * One setting from the same layers as loadConfig, validated on its own: for a
   * command that needs nothing else (`migrate new`), so that unrelated invalid
   * settings do not stop it. Throws ConfigError (exit 78) for this key only.
   */
  async setting<T>(key: string): Promise<T> {
    const { loadSetting } = await import('../config/index.js');
    const s = loadSetting<T>({ configPath: this.global.config, env: this.env, cwd: this.cwd }, key);
    for (const w of s.warnings) this.out.warn(w);
    return s.value;
  }

  private appLogger?: Promise<AppLogger>;

  /**
   * The structured logger (pino, imported here, so only commands that log pay
   * for it). Level: debug with -v, warn with -q, else LOG_LEVEL (app.log_level).
   * LOG_FILE (app.log_file) is used when it was set in the environment or the
   * config file; its built-in default is the platform's own log file, which
   * wks does not write to unasked. Needs the configuration loaded first.
   */
  logger(): Promise<AppLogger> {
    if (!this.appLogger) {
      const loaded = this.loaded;
      if (!loaded) throw new Error('context: load the configuration before asking for the logger');
      this.appLogger = (async () => {
        const { createLogger } = await import('../log/index.js');
        const { parseDuration } = await import('../util/duration.js');
        const c = loaded.config;
        const fileSet = loaded.sources['app.log_file']?.layer !== 'default';
        return createLogger({
          level: this.out.verbose > 0 ? 'debug' : this.out.quiet ? 'warn' : c.app.log_level,
          file: fileSet ? c.app.log_file : null,
          json: this.out.json,
          color: this.out.colorEnabled,
          repeatIntervalMs: parseDuration(c.serve.log_repeat_interval) ?? 60_000,
        });
      })();
    }
    return this.appLogger;
  }

  /**
   * The run cron watches: set by `backup create|rotate|verify|drill` and
   * `migrate up` (reportRun) so that their outcome is pushed to the
   * Pushgateway when PROMETHEUS_PUSHGATEWAY_URL is set (see pushRun).
   */
  private run: { command: string; bytes: number | null } | null = null;

  /** Mark this command as one whose outcome is pushed; `bytes` may be set once known. */
  reportRun(command: string): { bytes: number | null } {
    this.run = { command, bytes: null };
    return this.run;
  }

  /**
   * Push the outcome of a reportRun() command (lazy() calls this when the
   * action ends). A failed push is a warning on stderr; it never changes the
   * exit code. Nothing happens without a Pushgateway URL or before the
   * configuration was loaded.
   */
  async pushRun(startedAt: Date, exitCode: number): Promise<void> {
    const url = this.loaded?.config.monitoring.prometheus.pushgateway_url;
    if (!this.run || !url) return;
    try {
      const { pushRunOutcome } = await import('../metrics/index.js');
      await pushRunOutcome(url, { ...this.run, startedAt, finishedAt: new Date(), exitCode });
    } catch (err) {
      this.out.warn(
        `could not push the ${this.run.command} outcome to the Pushgateway (${url}): ${(err as Error).message}; the command's own result stands`,
      );
    }
  }

  /** The validated Config (see loadConfig). */
  async config(overrides: Overrides = {}): Promise<Config> {
    return (await this.loadConfig(overrides)).config;
  }
}

/** The signature of a command module's default export. */
export type Action<O = Record<string, unknown>> = (ctx: CommandContext, args: string[], opts: O) => Promise<void>;

let current: CommandContext | undefined;

/** The context of the command being run (the top-level error handler uses its reporter). */
export function currentContext(): CommandContext | undefined {
  return current;
}

/**
 * Wrap a lazily imported command module as a commander action. The module
 * is imported only when the command runs, so `--help` stays fast.
 */
export function lazy(load: () => Promise<{ default: Action<never> }>) {
  return async (...argv: unknown[]): Promise<void> => {
    const cmd = argv[argv.length - 1] as Command;
    const ctx = new CommandContext(cmd.optsWithGlobals() as GlobalOptions);
    ctx.command = cmd;
    current = ctx;
    const mod = await load();
    const startedAt = new Date();
    try {
      await mod.default(ctx, cmd.processedArgs as string[], cmd.opts());
    } catch (err) {
      const code = (err as { exitCode?: unknown }).exitCode;
      await ctx.pushRun(startedAt, typeof code === 'number' ? code : 1);
      throw err;
    }
    await ctx.pushRun(startedAt, Number(process.exitCode ?? 0));
  };
}
