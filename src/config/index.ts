/**
 * The public surface of src/config: other areas import only from here (ARCHITECTURE.md).
 */
export { loadConfig, resolveConfigPath, DEFAULT_CONFIG_FILE } from './loader.js';
export type { LoadedConfig, LoadOptions, ValueSource, Layer } from './loader.js';
export type { Config } from './schema.js';
export { DEFAULTS, ENV_MAP, SECRET_PATHS } from './defaults.js';
export * from './show.js';
export * from './init.js';
export * from './loader.js';
export * from './schema.js';
export * from './advice.js';
