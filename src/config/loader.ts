/**
 * Loads configuration from its four layers and validates it in one pass.
 *
 * Precedence, highest first: flag overrides > environment variables >
 * phase4-config.yml > DEFAULTS. Every leaf remembers which layer set it (and
 * the file line for YAML), so `config show --sources` can say so and every
 * error can point at its origin. All problems are collected and thrown
 * together as one ConfigError (exit 78).
 */
import { readFileSync, existsSync } from 'node:fs';
import path from 'node:path';
import { parseDocument, LineCounter, visit, isScalar, isMap, isSeq, type Document } from 'yaml';
import { configSchema, TRUE, type Config } from './schema.js';
import { DEFAULTS, ENV_MAP, SECRET_PATHS, URL_PATHS } from './defaults.js';
import { ConfigError, type ConfigIssue } from '../errors.js';
import { registerSecret, redactText, maskUrlPassword, urlPasswords, MASK, MIN_SECRET_LENGTH } from '../redact.js';
import { nearest } from '../util/suggest.js';

export const DEFAULT_CONFIG_FILE = 'phase4-config.yml';

export type Layer = 'default' | 'file' | 'env' | 'flag';

export interface ValueSource {
  layer: Layer;
  /** `phase4-config.yml:12`, `REDIS_PORT`, `--database-path`, or `default`. */
  origin: string;
}

export interface LoadOptions {
  /** Explicit path from -c/--config. */
  configPath?: string;
  /** Environment to read (defaults to process.env). */
  env?: NodeJS.ProcessEnv;
  /** Directory against which relative paths resolve (defaults to process.cwd()). */
  cwd?: string;
  /** Flag overrides, keyed by config path (`database.path`), with the flag's name for error messages. */
  overrides?: Record<string, { value: unknown; flag: string }>;
}

export interface LoadedConfig {
  config: Config;
  /** Absolute path of the file that was read, or null when running on defaults + env. */
  file: string | null;
  /** Source of every leaf value, keyed by config path. */
  sources: Record<string, ValueSource>;
  /** Non-fatal observations, such as an unknown WKS-looking environment variable. */
  warnings: string[];
}

type Tree = Record<string, unknown>;

const isObj = (v: unknown): v is Tree => v !== null && typeof v === 'object' && !Array.isArray(v);

function getPath(tree: unknown, p: string): unknown {
  let cur: unknown = tree;
  for (const part of p.split('.')) {
    if (Array.isArray(cur)) cur = cur[Number(part)];
    else if (isObj(cur)) cur = cur[part];
    else return undefined;
  }
  return cur;
}

function setPath(tree: Tree, p: string, value: unknown): void {
  const parts = p.split('.');
  let cur: Tree = tree;
  for (const part of parts.slice(0, -1)) {
    if (!isObj(cur[part])) cur[part] = {};
    cur = cur[part] as Tree;
  }
  cur[parts[parts.length - 1]!] = value;
}

/** Merge `over` into `base` (mutating base); arrays and scalars replace. Calls onLeaf for every leaf written. */
function mergeInto(base: Tree, over: Tree, prefix: string, onLeaf: (p: string) => void): void {
  for (const [k, v] of Object.entries(over)) {
    const p = prefix ? `${prefix}.${k}` : k;
    if (isObj(v) && isObj(base[k])) mergeInto(base[k] as Tree, v, p, onLeaf);
    else {
      base[k] = isObj(v) ? structuredClone(v) : v;
      markLeaves(v, p, onLeaf);
    }
  }
}

function markLeaves(v: unknown, p: string, onLeaf: (p: string) => void): void {
  if (isObj(v)) for (const [k, c] of Object.entries(v)) markLeaves(c, `${p}.${k}`, onLeaf);
  else onLeaf(p);
}

function isSecretPath(p: string): boolean {
  return SECRET_PATHS.some((s) => p === s || p.startsWith(`${s}.`));
}

/** Secrets wks itself asks the operator to choose: shorter than MIN_SECRET_LENGTH is refused (78). */
const OWN_SECRETS = new Set(['database.backup.encryption.key', 'monitoring.prometheus.bearer_token', 'app.jwt_secret']);

/**
 * Secrets shorter than MIN_SECRET_LENGTH: an issue for the ones wks owns (a
 * raw encryption key is 64 hex characters; a passphrase must be longer), a
 * warning for third-party credentials (masked by key only). Never shows the value.
 */
function shortSecrets(
  raw: Tree,
  originOf: (p: string) => ValueSource,
  issueAt: (p: string, message: string, withValue: boolean) => ConfigIssue,
  warnings: string[],
): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  const values: Array<[string, unknown]> = SECRET_PATHS.map((p) => [p, getPath(raw, p)]);
  for (const p of URL_PATHS) {
    const u = getPath(raw, p);
    if (typeof u === 'string') values.push([p, urlPasswords(u)[1]]);
  }
  for (const [p, v] of values) {
    if (typeof v !== 'string' || v.length === 0 || v.length >= MIN_SECRET_LENGTH) continue;
    const where = originOf(p).layer === 'env' ? originOf(p).origin : `phase4.${p}`;
    if (OWN_SECRETS.has(p))
      issues.push(
        issueAt(
          p,
          `is shorter than ${MIN_SECRET_LENGTH} characters: too easy to guess (for the encryption key use 64 hex characters: openssl rand -hex 32)`,
          false,
        ),
      );
    else
      warnings.push(
        `${where} is shorter than ${MIN_SECRET_LENGTH} characters: wks masks it by key (config show, URLs) but not wherever the same text appears; use a longer secret`,
      );
  }
  return issues;
}

/** Show a value in an error: secrets masked, long values cut. */
function displayValue(p: string, v: unknown): string | undefined {
  if (v === undefined) return undefined;
  if (isSecretPath(p) && v !== null && v !== '') return MASK;
  if (URL_PATHS.includes(p) && typeof v === 'string') v = maskUrlPassword(v);
  const s = typeof v === 'string' ? JSON.stringify(v) : (JSON.stringify(v) ?? String(v));
  return redactText(s.length > 80 ? `${s.slice(0, 77)}...` : s);
}

const ENV_REF = /\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g;

/** Resolve which file to read: -c > WKS_CONFIG > ./phase4-config.yml if present > none. */
export function resolveConfigPath(opts: LoadOptions): { file: string | null; explicit: boolean } {
  const env = opts.env ?? process.env;
  const cwd = opts.cwd ?? process.cwd();
  const explicit = opts.configPath ?? (env.WKS_CONFIG ? env.WKS_CONFIG : undefined);
  if (explicit) return { file: path.resolve(cwd, explicit), explicit: true };
  const local = path.resolve(cwd, DEFAULT_CONFIG_FILE);
  return { file: existsSync(local) ? local : null, explicit: false };
}

interface ParsedFile {
  tree: Tree;
  lineOf: (p: string) => number | undefined;
  issues: ConfigIssue[];
}

function parseFile(file: string, env: NodeJS.ProcessEnv, cwd: string): ParsedFile {
  const rel = path.relative(cwd, file) || file;
  const text = readConfigText(file, rel);
  const lineCounter = new LineCounter();
  const doc = parseYaml(text, rel, lineCounter);
  const issues: ConfigIssue[] = [];
  expandEnvRefs(doc, lineCounter, env, rel, issues);
  const tree = phase4Tree(doc, lineCounter, rel, issues);
  return { tree, lineOf: lineFinder(doc, lineCounter), issues };
}

function readConfigText(file: string, rel: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new ConfigError(
      `cannot read config file ${rel}: ${code === 'ENOENT' ? 'no such file' : (err as Error).message}`,
      [],
      {
        hint:
          code === 'ENOENT'
            ? 'check -c/--config or WKS_CONFIG, or create one with `wks init`'
            : 'check the file permissions',
      },
    );
  }
}

/** Parse the YAML text; a syntax error throws a ConfigError listing every error with its line and column. */
function parseYaml(text: string, rel: string, lineCounter: LineCounter): Document {
  const doc: Document = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length > 0) {
    const issues: ConfigIssue[] = doc.errors.map((e) => {
      const pos = e.linePos?.[0] ?? (e.pos ? lineCounter.linePos(e.pos[0]) : undefined);
      return {
        key: '(syntax)',
        message: e.message.split('\n')[0]!,
        source: pos ? `${rel}:${pos.line}:${pos.col}` : rel,
      };
    });
    const first = issues[0]!;
    throw new ConfigError(`YAML syntax error in ${first.source}: ${first.message}`, issues, {
      hint: `fix the YAML at ${first.source}, then run \`wks config validate\``,
    });
  }
  return doc;
}

/** ${VAR} and ${VAR:-default} expansion in string values (never in keys); an unset VAR without default is an issue. */
function expandEnvRefs(
  doc: Document,
  lineCounter: LineCounter,
  env: NodeJS.ProcessEnv,
  rel: string,
  issues: ConfigIssue[],
): void {
  visit(doc, {
    Scalar(key, node) {
      if (key === 'key' || typeof node.value !== 'string' || !node.value.includes('${')) return;
      const line = node.range ? lineCounter.linePos(node.range[0]).line : undefined;
      node.value = node.value.replace(ENV_REF, (_m, name: string, dflt: string | undefined) => {
        const v = env[name];
        if (v !== undefined && v !== '') return v;
        if (dflt !== undefined) return dflt;
        issues.push({
          key: name,
          message: `referenced as \${${name}} but not set (use \${${name}:-default} for a fallback)`,
          source: line ? `${rel}:${line}` : rel,
        });
        return '';
      });
    },
  });
}

/** The document as plain values; an alias expansion past the bound throws a ConfigError. */
function toPlain(doc: Document, rel: string): unknown {
  try {
    // maxAliasCount bounds alias expansion: a "billion laughs" file is refused, not expanded.
    return doc.toJS({ maxAliasCount: 100 }) as unknown;
  } catch (err) {
    const message = (err as Error).message.split('\n')[0]!;
    throw new ConfigError(
      `${rel} cannot be read as configuration: ${message}`,
      [{ key: '(yaml)', message, source: rel }],
      {
        hint: `remove the YAML aliases (*name) that expand it in ${rel}, then run \`wks config validate\``,
      },
    );
  }
}

/** The tree under the top-level `phase4:` key; other top-level keys are issues, a non-mapping root throws. */
function phase4Tree(doc: Document, lineCounter: LineCounter, rel: string, issues: ConfigIssue[]): Tree {
  const js = toPlain(doc, rel);
  if (js === null || js === undefined) return {};
  if (!isObj(js)) {
    throw new ConfigError(`${rel}: expected a mapping with a top-level \`phase4:\` key`, [
      { key: '(root)', message: 'expected a mapping with a top-level `phase4:` key', source: `${rel}:1` },
    ]);
  }
  for (const k of Object.keys(js)) {
    if (k !== 'phase4') {
      const n = doc.get(k, true);
      const line = isScalar(n) && n.range ? lineCounter.linePos(n.range[0]).line : undefined;
      issues.push({
        key: k,
        message: `unknown top-level key${nearest(k, ['phase4']) ? ' (did you mean phase4?)' : '; settings live under `phase4:`'}`,
        source: line ? `${rel}:${line}` : rel,
      });
    }
  }
  const p4 = js.phase4;
  if (p4 !== undefined && p4 !== null && !isObj(p4)) {
    issues.push({ key: 'phase4', message: 'expected a mapping', source: rel });
    return {};
  }
  return (p4 as Tree | null | undefined) ?? {};
}

/** The file line of a config path (`database.path` -> the line of its key under `phase4:`). */
function lineFinder(doc: Document, lineCounter: LineCounter): ParsedFile['lineOf'] {
  return (p: string): number | undefined => {
    const parts: (string | number)[] = ['phase4', ...p.split('.').map((s) => (/^\d+$/.test(s) ? Number(s) : s))];
    // Point at the key of the deepest existing pair (the value may be a block starting on the next line).
    for (let n = parts.length; n > 0; n--) {
      const parent = n === 1 ? doc.contents : doc.getIn(parts.slice(0, n - 1), true);
      const last = parts[n - 1];
      if (isMap(parent)) {
        const pair = parent.items.find((it) => isScalar(it.key) && it.key.value === last);
        const node = (pair?.key ?? undefined) as { range?: [number, number, number] } | undefined;
        if (node?.range) return lineCounter.linePos(node.range[0]).line;
      } else if (isSeq(parent) && typeof last === 'number') {
        const node = parent.items[last] as { range?: [number, number, number] } | undefined;
        if (node?.range) return lineCounter.linePos(node.range[0]).line;
      }
    }
    return undefined;
  };
}

/** Known-looking prefixes: an env var with one of these that wks does not know is probably a typo. */
const ENV_PREFIXES = ['DB_', 'REDIS_', 'PG_', 'BACKUP_', 'ALERT_', 'METRICS_', 'RATE_LIMIT_', 'WKS_'];
const WKS_OWN_ENV = new Set(['WKS_CONFIG', 'WKS_TEST_PG_URL', 'WKS_TEST_REDIS_URL']);

/**
 * Load and validate configuration. Throws ConfigError (exit 78) listing every
 * problem, each with its key or variable, the (redacted) value and its source.
 */
export function loadConfig(opts: LoadOptions = {}): LoadedConfig {
  const cwd = opts.cwd ?? process.cwd();
  const { file, rel, raw, sources, issues, warnings, lineOf } = layered(opts);

  const { originOf, issueAt } = issueHelpers(raw, sources, lineOf, rel);
  const result = configSchema.safeParse(raw);
  if (!result.success) issues.push(...schemaIssues(result.error.issues, issueAt));
  issues.push(...crossFieldIssues(raw, originOf, issueAt));
  issues.push(...shortSecrets(raw, originOf, issueAt, warnings));
  // Secrets are registered before any error is thrown so the error text itself is redacted.
  registerSecrets(raw);

  if (issues.length > 0 || !result.success) {
    const where = file ? rel : 'defaults and environment';
    throw new ConfigError(
      `configuration is invalid (${issues.length} problem${issues.length === 1 ? '' : 's'} in ${where})`,
      issues,
    );
  }

  const config = result.data;
  normalise(config, cwd);
  return { config, file, sources, warnings };
}

interface Layered {
  file: string | null;
  rel: string | null;
  raw: Tree;
  sources: Record<string, ValueSource>;
  /** Problems found while reading the file (unset `${VAR}`, unknown top-level keys). */
  issues: ConfigIssue[];
  warnings: string[];
  lineOf: ParsedFile['lineOf'];
}

/** DEFAULTS, then the file, the environment and the flag overrides, each leaf remembering its layer; nothing validated yet. */
function layered(opts: LoadOptions): Layered {
  const env = opts.env ?? process.env;
  const cwd = opts.cwd ?? process.cwd();
  const { file, explicit } = resolveConfigPath(opts);
  const raw = structuredClone(DEFAULTS) as unknown as Tree;
  const sources: Record<string, ValueSource> = {};
  for (const p of leafPaths(raw)) sources[p] = { layer: 'default', origin: 'default' };
  const issues: ConfigIssue[] = [];
  const warnings: string[] = [];
  let lineOf: ParsedFile['lineOf'] = () => undefined;
  const rel = file ? path.relative(cwd, file) || file : null;
  if (file) {
    if (explicit && !existsSync(file)) {
      throw new ConfigError(`config file not found: ${rel}`, [], {
        hint: 'check -c/--config or WKS_CONFIG, or create one with `wks init`',
      });
    }
    const parsed = parseFile(file, env, cwd);
    issues.push(...parsed.issues);
    lineOf = parsed.lineOf;
    mergeInto(raw, parsed.tree, '', (p) => {
      const line = lineOf(p);
      sources[p] = { layer: 'file', origin: line ? `${rel}:${line}` : rel! };
    });
  }
  applyEnv(raw, sources, env, warnings);
  for (const [p, { value, flag }] of Object.entries(opts.overrides ?? {})) {
    if (value === undefined) continue;
    setPath(raw, p, value);
    sources[p] = { layer: 'flag', origin: flag };
  }
  return { file, rel, raw, sources, issues, warnings, lineOf };
}

/** One setting, validated on its own, with where it came from. */
export interface LoadedSetting<T = unknown> {
  value: T;
  source: ValueSource;
  /** Absolute path of the file that was read, or null. */
  file: string | null;
  warnings: string[];
}

/**
 * Load one setting (`database.migrations.directory`) from the same layers as
 * loadConfig, validating only that key: a command that needs nothing else
 * (`migrate new`) works while unrelated settings are invalid. A file that
 * cannot be parsed still fails (ConfigError, exit 78); an unset `${VAR}` counts
 * only on the setting's own line. Relative paths are not resolved here.
 */
export function loadSetting<T = unknown>(opts: LoadOptions, key: string): LoadedSetting<T> {
  const { file, rel, raw, sources, issues: fileIssues, warnings, lineOf } = layered(opts);
  const { originOf, issueAt } = issueHelpers(raw, sources, lineOf, rel);
  let schema: unknown = configSchema;
  for (const part of key.split('.')) schema = (schema as { shape?: Record<string, unknown> }).shape?.[part];
  if (!schema) throw new Error(`config: no setting ${key}`);
  const source = originOf(key);
  const issues = fileIssues.filter((i) => source.layer === 'file' && i.source === source.origin);
  const result = (schema as typeof configSchema).safeParse(getPath(raw, key));
  if (!result.success) issues.push(...result.error.issues.map((iss) => issueAt(key, iss.message)));
  registerSecrets(raw);
  if (issues.length > 0 || !result.success) {
    throw new ConfigError(
      `configuration is invalid (${issues.length} problem${issues.length === 1 ? '' : 's'} in ${key})`,
      issues,
    );
  }
  return { value: result.data as T, source, file, warnings };
}

/** The environment layer: every set ENV_MAP variable, and a warning for a known-looking one wks does not use. */
function applyEnv(raw: Tree, sources: Record<string, ValueSource>, env: NodeJS.ProcessEnv, warnings: string[]): void {
  for (const [name, p] of Object.entries(ENV_MAP)) {
    const v = env[name];
    if (v === undefined || v === '') continue;
    setPath(raw, p, v);
    sources[p] = { layer: 'env', origin: name };
  }
  for (const name of Object.keys(env)) {
    if (ENV_MAP[name] || WKS_OWN_ENV.has(name) || !ENV_PREFIXES.some((pre) => name.startsWith(pre))) continue;
    const guess = nearest(name, Object.keys(ENV_MAP));
    if (guess) warnings.push(`environment variable ${name} is not used by wks (did you mean ${guess}?)`);
  }
}

type OriginOf = (p: string) => ValueSource;
type IssueAt = (p: string, message: string, withValue?: boolean) => ConfigIssue;

/** Where a config path's value came from, and an issue for it that names its key, source and (redacted) value. */
function issueHelpers(
  raw: Tree,
  sources: Record<string, ValueSource>,
  lineOf: ParsedFile['lineOf'],
  rel: string | null,
): { originOf: OriginOf; issueAt: IssueAt } {
  const originOf = (p: string): ValueSource => {
    if (sources[p]) return sources[p]!;
    // A leaf under an unknown/array key: find the nearest recorded ancestor or file line.
    const line = lineOf(p);
    if (line && rel) return { layer: 'file', origin: `${rel}:${line}` };
    return { layer: 'default', origin: 'default' };
  };
  const keyFor = (p: string): string => {
    const src = originOf(p);
    return src.layer === 'env' ? src.origin : `phase4.${p}`;
  };
  const issueAt = (p: string, message: string, withValue = true): ConfigIssue => ({
    key: keyFor(p),
    message,
    source: originOf(p).origin === 'default' ? 'default' : originOf(p).layer === 'env' ? 'env' : originOf(p).origin,
    value: withValue ? displayValue(p, getPath(raw, p)) : undefined,
  });
  return { originOf, issueAt };
}

/** The schema's complaints as config issues; an unknown key gets a "did you mean" from the known keys beside it. */
function schemaIssues(
  zodIssues: NonNullable<ReturnType<typeof configSchema.safeParse>['error']>['issues'],
  issueAt: IssueAt,
): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  for (const iss of zodIssues) {
    const p = iss.path.map(String).join('.');
    if (iss.code === 'unrecognized_keys') {
      const known = Object.keys(((p ? getPath(DEFAULTS, p) : DEFAULTS) as Tree | undefined) ?? {});
      for (const k of iss.keys) {
        const kp = p ? `${p}.${k}` : k;
        const guess = nearest(k, known);
        issues.push(issueAt(kp, `unknown key${guess ? ` (did you mean ${guess}?)` : ''}`, false));
      }
    } else {
      issues.push(issueAt(p, iss.message));
    }
  }
  return issues;
}

/** Cross-field rules, evaluated on a loosely-coerced view so they report even when other keys are bad. */
function crossFieldIssues(raw: Tree, originOf: OriginOf, issueAt: IssueAt): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  const truthy = (p: string): boolean => TRUE.has(String(getPath(raw, p)).toLowerCase());
  const present = (p: string): boolean => {
    const v = getPath(raw, p);
    return v !== null && v !== undefined && v !== '';
  };
  const pgOn = truthy('database.postgresql.enabled') || getPath(raw, 'database.type') === 'postgresql';
  if (pgOn && !present('database.postgresql.url')) {
    // PG_PASSWORD is not required: trust, peer and certificate authentication need none. The server
    // decides; when it asks for one and none is set, the connection error says so (src/db/postgres.ts).
    for (const [p, envName] of [['database.postgresql.user', 'PG_USER']] as const) {
      if (!present(p)) {
        issues.push({
          key: envName,
          message: `required when PostgreSQL is enabled (set ${envName} or phase4.${p}, or PG_URL)`,
          source:
            originOf('database.postgresql.enabled').layer === 'default'
              ? originOf('database.type').origin
              : originOf('database.postgresql.enabled').origin,
        });
      }
    }
  }
  if (truthy('monitoring.alerts.email.enabled') && !present('monitoring.alerts.email.to')) {
    issues.push({
      key: 'ALERT_EMAIL_TO',
      message: 'required when email alerts are enabled (set ALERT_EMAIL_TO or phase4.monitoring.alerts.email.to)',
      source: originOf('monitoring.alerts.email.enabled').origin,
    });
  }
  const min = Number(getPath(raw, 'database.pooling.min'));
  const max = Number(getPath(raw, 'database.pooling.max'));
  if (Number.isFinite(min) && Number.isFinite(max) && min > max) {
    issues.push(
      issueAt(
        'database.pooling.min',
        `pool min (${min}) must be <= pool max (${max}, from ${originOf('database.pooling.max').origin})`,
      ),
    );
  }
  if (
    truthy('database.backup.encryption.enabled') &&
    !present('database.backup.encryption.key') &&
    !present('database.backup.encryption.key_file')
  ) {
    issues.push(
      issueAt(
        'database.backup.encryption.enabled',
        'encryption is enabled but no key is set (BACKUP_ENCRYPTION_KEY or BACKUP_ENCRYPTION_KEY_FILE)',
        false,
      ),
    );
  }
  if (truthy('database.backup.local_copy') && !present('database.backup.repository')) {
    issues.push(
      issueAt(
        'database.backup.local_copy',
        'a local copy needs a remote repository: set BACKUP_REPOSITORY=s3://bucket/prefix (database.backup.repository), or remove BACKUP_LOCAL_COPY (backups are then only local)',
        false,
      ),
    );
  }
  if (present('database.backup.encryption.key') && present('database.backup.encryption.key_file')) {
    issues.push(
      issueAt('database.backup.encryption.key_file', 'set either an encryption key or a key file, not both', false),
    );
  }
  return issues;
}

/** Register every secret (and every password inside a URL) with the redactor. */
function registerSecrets(raw: Tree): void {
  for (const p of SECRET_PATHS) registerSecret(getPath(raw, p));
  for (const p of URL_PATHS) {
    const u = getPath(raw, p);
    if (typeof u === 'string') for (const pw of urlPasswords(u)) registerSecret(pw);
  }
}

/**
 * The derived settings of a validated config: PG_ENABLED and database.type
 * agree, relative paths are resolved against `cwd`, and one PostgreSQL TLS
 * mode is in force (shown by `config show`).
 */
function normalise(config: Config, cwd: string): void {
  // PG_ENABLED and database.type are two spellings of one switch.
  if (config.database.postgresql.enabled) config.database.type = 'postgresql';
  if (config.database.type === 'postgresql') config.database.postgresql.enabled = true;
  // Relative paths resolve against the working directory at load time.
  config.database.path = path.resolve(cwd, config.database.path);
  config.database.backup.storage_path = path.resolve(cwd, config.database.backup.storage_path);
  if (config.database.migrations.directory)
    config.database.migrations.directory = path.resolve(cwd, config.database.migrations.directory);
  if (config.database.backup.encryption.key_file) {
    config.database.backup.encryption.key_file = path.resolve(cwd, config.database.backup.encryption.key_file);
  }
  // One TLS mode in force, shown by `config show`: PG_SSL alone means verify-full (encrypt and check the
  // server's certificate and name); PG_SSL_MODE=require encrypts without checking.
  const pgc = config.database.postgresql;
  pgc.ssl_mode ??= pgc.ssl ? 'verify-full' : 'disable';
  pgc.ssl = pgc.ssl_mode !== 'disable';
  if (pgc.ssl_ca_file) pgc.ssl_ca_file = path.resolve(cwd, pgc.ssl_ca_file);
}

/** All leaf paths of a tree (arrays are leaves). */
export function leafPaths(tree: unknown, prefix = ''): string[] {
  if (!isObj(tree)) return prefix ? [prefix] : [];
  const out: string[] = [];
  for (const [k, v] of Object.entries(tree)) out.push(...leafPaths(v, prefix ? `${prefix}.${k}` : k));
  return out;
}

export { getPath as getConfigValue };
