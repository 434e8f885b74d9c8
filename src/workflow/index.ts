/** Workflow inspection, locks joined with the database, and the reaper. */
export * from './inspect.js';
export * from './locks.js';
export * from './reap.js';
export { withHandles, type Handles, type RedisInclusion } from './handles.js';
export * from './rows.js';
export * from './release.js';
