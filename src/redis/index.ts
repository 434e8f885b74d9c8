/** The Redis layer: connection, keyspace, locks, state, sessions, rate limits. */
export * from './client.js';
export * from './keyspace.js';
export * from './locks.js';
export * from './state.js';
export * from './sessions.js';
export * from './ratelimit.js';
