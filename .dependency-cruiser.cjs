/**
 * The boundary rules of ARCHITECTURE.md, checked by `npm run check:boundaries` (part of `npm test`).
 *
 * Layers, top to bottom:
 *   face      src/cli.ts, src/commands/, src/ui/          (the only code that may use CLI libraries)
 *   domain    src/backup, migrate, copy, workflow, health, metrics, serve, alerts
 *   adapters  src/db, src/redis                            (connections and drivers)
 *   floor     src/config, src/log, src/util, src/errors.ts, src/redact.ts, src/version.ts
 * A layer imports only the layers below it, and another area only through that area's index.ts.
 */
const FACE = '^src/(cli\\.ts|commands/|ui/)';
const DOMAIN = '^src/(backup|migrate|copy|workflow|health|metrics|serve|alerts)/';
const ADAPTERS = '^src/(db|redis)/';
const FLOOR = '^src/(config/|log/|util/|errors\\.ts|redact\\.ts|version\\.ts)';

module.exports = {
  forbidden: [
    {
      name: 'no-cli-libraries-below-the-face',
      comment: 'Domain, adapter and floor code never imports commander, chalk, ora or inquirer: only the face talks to the terminal.',
      severity: 'error',
      from: { path: '^src/', pathNot: FACE },
      to: { path: '(^|/)node_modules/(commander|chalk|ora|@inquirer)/' },
    },
    {
      name: 'no-domain-to-face',
      comment: 'Domain areas report through callbacks and return values; they never import the CLI, commands or the reporter.',
      severity: 'error',
      from: { path: `${DOMAIN}|${ADAPTERS}|${FLOOR}` },
      to: { path: FACE },
    },
    {
      name: 'no-adapter-to-domain',
      comment: 'src/db and src/redis open connections and speak to drivers; they know nothing of backups, migrations or workflows.',
      severity: 'error',
      from: { path: ADAPTERS },
      to: { path: DOMAIN },
    },
    {
      name: 'no-floor-to-upper-layers',
      comment: 'config, util, errors, redact and version are the floor: they import nothing above them.',
      severity: 'error',
      from: { path: FLOOR },
      to: { path: `${FACE}|${DOMAIN}|${ADAPTERS}` },
    },
    {
      name: 'no-deep-imports-across-areas',
      comment: "Import another area only through its index.ts (its public surface), never one of its files.",
      severity: 'error',
      from: { path: '^src/([^/]+)/' },
      to: { path: '^src/([^/]+)/', pathNot: ['^src/$1/', '^src/[^/]+/index\\.ts$', '^src/util/'] },
    },
    {
      name: 'no-deep-imports-from-top-level-files',
      comment: 'src/cli.ts and the floor files import areas through their index.ts too.',
      severity: 'error',
      from: { path: '^src/[^/]+\\.ts$' },
      to: {
        path: '^src/[^/]+/',
        pathNot: ['^src/[^/]+/index\\.ts$', '^src/util/', '^src/commands/([^/]+/index\\.ts|context\\.ts)$'],
      },
    },
    {
      name: 'no-cycles-between-areas',
      comment: 'Areas form a directed graph: no cycle may cross from one area into another.',
      severity: 'error',
      from: { path: '^src/([^/]+)/' },
      to: { circular: true, viaSomeNot: '^src/$1/' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^src/build/' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { exportsFields: ['exports'], conditionNames: ['import', 'require', 'node', 'default'] },
    skipAnalysisNotInRules: true,
  },
};
