/**
 * The public surface of src/metrics: other areas import only from here (ARCHITECTURE.md).
 */
export { createMetrics, PLATFORM_BUCKETS, PLATFORM_SUMMARY_OBJECTIVES } from './registry.js';
export type { WksMetrics } from './registry.js';
export { PlatformCollector, applyCatalog } from './collect.js';
export { instrumentDb, classifySql } from './instrument.js';
export { sampleMetrics, SAMPLED_METRICS } from './sample.js';
export * from './scrape.js';
export * from './collect.js';
export * from './instrument.js';
export * from './registry.js';
export * from './sample.js';
export * from './push.js';
