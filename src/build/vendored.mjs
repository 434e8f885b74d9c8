// The pure-JS packages every command loads at start-up (and ioredis, which every Redis command loads:
// ~40 CommonJS files), bundled by vendor.mjs into dist/vendor/.
// Shared with tests/integration/build-vendor.test.ts, which checks dist/ against this list.
export const VENDORED = ['commander', 'chalk', 'yaml', 'zod', 'croner', 'ioredis'];
