/**
 * The public surface of src/health: other areas import only from here (ARCHITECTURE.md).
 */
export type { CheckContext, CheckDefinition, CheckOutcome, CheckResult, HealthReport, HealthStatus } from './types.js';
export { STATUS_RANK } from './types.js';
export { CHECK_NAMES, READINESS_CHECKS } from './registry.js';
export { exitCodeFor, worstStatus, runChecks, SkipCheck } from './runner.js';
export { HealthResources } from './resources.js';
export * from './run.js';
