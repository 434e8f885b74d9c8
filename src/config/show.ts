/**
 * Configuration: load (loader.ts), the schema and its types (schema.ts), the
 * single set of defaults (defaults.ts), and redacted views for display.
 */
import { SECRET_PATHS, URL_PATHS } from './defaults.js';
import { leafPaths, getConfigValue, type LoadedConfig } from './loader.js';
import { MASK, redactUrl } from '../redact.js';
import type { Config } from './schema.js';

/** A deep copy of the config with every secret masked and URL passwords hidden. Safe to print. */
export function redactedConfig(config: Config): Config {
  const copy = structuredClone(config) as unknown as Record<string, unknown>;
  for (const p of SECRET_PATHS) {
    const parts = p.split('.');
    let cur: Record<string, unknown> | undefined = copy;
    for (const part of parts.slice(0, -1)) cur = cur?.[part] as Record<string, unknown> | undefined;
    const last = parts[parts.length - 1]!;
    if (cur && cur[last] !== null && cur[last] !== undefined && cur[last] !== '') cur[last] = MASK;
  }
  for (const p of URL_PATHS) {
    const parts = p.split('.');
    let cur: Record<string, unknown> | undefined = copy;
    for (const part of parts.slice(0, -1)) cur = cur?.[part] as Record<string, unknown> | undefined;
    const last = parts[parts.length - 1]!;
    if (cur && typeof cur[last] === 'string') cur[last] = redactUrl(cur[last] as string);
  }
  return copy as unknown as Config;
}

export interface SourcedValue {
  key: string;
  value: unknown;
  layer: string;
  origin: string;
}

/** Every leaf of the (redacted) effective config with the layer that set it, in schema order. */
export function configWithSources(loaded: LoadedConfig): SourcedValue[] {
  const red = redactedConfig(loaded.config);
  return leafPaths(red).map((p) => {
    const src = loaded.sources[p] ?? { layer: 'default', origin: 'default' };
    return { key: `phase4.${p}`, value: getConfigValue(red, p), layer: src.layer, origin: src.origin };
  });
}
