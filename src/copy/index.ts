/**
 * The public surface of src/copy: other areas import only from here (ARCHITECTURE.md).
 */
export { TableChecksum } from './checksum.js';
export { convertValue, kindOf, formatFloat, convertDateTime, canonicalJson, type ColumnKind } from './convert.js';
export type { OnTypeError, ProblemRecord, TableSummary } from './source.js';
export { PROGRESS_TABLE, RUN_ROW } from './target.js';
export * from './copy.js';
export { unfinishedCopy, unfinishedCopyOf, assertNoUnfinishedCopy, type UnfinishedCopy } from './state.js';
