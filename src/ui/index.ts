/**
 * The public surface of src/ui, the one reporter: other areas import only from here (ARCHITECTURE.md).
 */
export * from './reporter.js';
export * from './table.js';
