/**
 * Examples for every command's --help (and the man page, which is generated
 * from the same command tree: src/commands/completion/manpage.ts). Keyed by the command
 * path without `wks` ('' is the root). 1 to 3 examples each; a test fails when
 * a command has none or more than three.
 */
export const EXAMPLES: Readonly<Record<string, readonly string[]>> = {
  '': [
    'wks health',
    'wks backup create && wks backup verify --latest',
    'wks backup restore --latest --to /tmp/check.db',
  ],
  init: ['wks init', 'wks init --path /etc/wks/phase4-config.yml'],
  config: ['wks config show --sources', 'wks config validate'],
  'config show': ['wks config show', 'wks config show --sources', 'wks --json config show'],
  'config validate': ['wks config validate', 'wks -c /etc/wks/phase4-config.yml config validate'],
  migrate: ['wks migrate status', 'wks migrate up --dry-run', 'wks migrate up'],
  'migrate up': ['wks migrate up --dry-run', 'wks migrate up', 'wks migrate up --to 0002'],
  'migrate down': ['wks migrate down --dry-run', 'wks migrate down --steps 1 -y'],
  'migrate status': [
    'wks migrate status',
    'wks migrate status --exit-code   # in CI: non-zero while migrations are pending',
  ],
  'migrate new': ['wks migrate new add_customer_email'],
  'migrate validate': ['wks migrate validate'],
  'migrate baseline': ['wks migrate baseline --dry-run', 'wks migrate baseline'],
  'migrate resolve': ['wks migrate resolve 0004 --rolled-back', 'wks migrate resolve 0004 --applied'],
  db: ['wks db copy --to postgres://wks@db.example/wks --dry-run'],
  'db copy': [
    'wks db copy --to postgres://wks@db.example/wks --dry-run',
    'wks db copy --to postgres://wks@db.example/wks',
    'wks db copy --to postgres://wks@db.example/wks --resume',
  ],
  'db salvage': [
    'wks db salvage /srv/wks/workstation.db.quarantine-20261130T031500Z/workstation.db --to /srv/wks/salvage.db',
  ],
  backup: ['wks backup create', 'wks backup list', 'wks backup drill'],
  'backup create': [
    'wks backup create',
    'wks backup create --compress zstd --encrypt',
    'wks -q backup create --type scheduled',
  ],
  'backup list': ['wks backup list', 'wks --json backup list', 'wks backup list --location local'],
  'backup verify': ['wks backup verify --latest', 'wks backup verify --all --deep', 'wks backup verify 20261129T0230'],
  'backup restore': [
    'wks backup restore --latest --to /tmp/check.db',
    'wks backup restore --at 2026-11-28T23:00Z',
    'wks backup restore --latest --to-database wks_restored',
  ],
  'backup drill': [
    'wks backup drill',
    'wks backup drill 20261129T0230 --rto-target 10m',
    'wks --json backup drill --latest',
  ],
  'backup upload': ['wks backup upload --dry-run', 'wks backup upload --from /srv/wks/backups'],
  'backup rotate': ['wks backup rotate --dry-run', 'wks --yes backup rotate'],
  workflow: ['wks workflow list --stuck', 'wks workflow show 42', 'wks workflow reap --dry-run'],
  'workflow list': ['wks workflow list', 'wks workflow list --stuck', 'wks workflow list --status running --limit 20'],
  'workflow show': ['wks workflow show 42'],
  'workflow stats': ['wks workflow stats'],
  'workflow reap': ['wks workflow reap --dry-run', 'wks workflow reap -y', 'wks workflow reap --older-than 2h -y'],
  'workflow release': [
    'wks workflow release 42 --dry-run',
    'wks workflow release 42 -y',
    'wks workflow release 42 --force --reason "worker pool drained, INC-1234" -y',
  ],
  lock: ['wks lock list', 'wks lock release 42'],
  'lock list': ['wks lock list', 'wks lock list --older-than 30m'],
  'lock release': [
    'wks lock release 42',
    'wks lock release 42 --worker w-7 -y',
    'wks lock release 42 --force --reason "worker gone, INC-1234"',
  ],
  session: ['wks session list', 'wks session revoke 7'],
  'session list': ['wks session list', 'wks session list --user 7'],
  'session revoke': ['wks session revoke 7 --dry-run', 'wks session revoke 7 -y'],
  ratelimit: ['wks ratelimit show 123', 'wks ratelimit reset 123 -y'],
  'ratelimit show': ['wks ratelimit show 123', 'wks ratelimit show 123 --endpoint /api/run'],
  'ratelimit reset': ['wks ratelimit reset 123 --dry-run', 'wks ratelimit reset 123 --endpoint /api/run -y'],
  health: ['wks health', 'wks health --check database,backups', 'wks --json health --deep'],
  metrics: ['wks metrics', 'wks metrics --textfile /var/lib/node_exporter/wks.prom'],
  serve: ['wks serve', 'wks serve --print-schedule', 'wks serve --host 0.0.0.0 --port 9090'],
  alerts: ['wks alerts test --channel slack'],
  'alerts test': ['wks alerts test --channel slack', 'wks alerts test --channel pagerduty'],
  completion: [
    'source <(wks completion bash)',
    'wks completion zsh > "${fpath[1]}/_wks"',
    'wks completion fish > ~/.config/fish/completions/wks.fish',
  ],
};
