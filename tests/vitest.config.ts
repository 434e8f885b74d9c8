import { defineConfig } from 'vitest/config';
import { fileURLToPath } from 'node:url';

// The suite: unit (pure logic), integration (real SQLite files, PostgreSQL, Redis),
// e2e (spawns bin/wks.js; needs `npm run build` first, which `npm test` does), faults.
export default defineConfig({
  test: {
    root: fileURLToPath(new URL('..', import.meta.url)),
    include: ['tests/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // 2 cores: keep file-level parallelism modest so timing-sensitive tests stay honest.
    maxWorkers: 2,
    reporters: ['default'],
  },
});
