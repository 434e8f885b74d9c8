/**
 * The public surface of src/serve, the daemon: other areas import only from here (ARCHITECTURE.md).
 */
export * from './daemon.js';
export * from './scheduler.js';
