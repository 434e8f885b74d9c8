/**
 * The shipped monitoring templates agree with each other and with the code:
 * promtool accepts the Prometheus config and rules as shipped, every rule has
 * a `for:`, the built-in notifier waits the same durations, and the crontab /
 * default schedule meet the default RPO.
 */
import { describe, it, expect } from 'vitest';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';
import { REPO } from '../helpers/cli.js';
import { needBinary } from '../helpers/prometheus.js';
import { BUILTIN_FOR, buildRules } from '../../src/alerts/index.js';
import { DEFAULTS, configAdvice, scheduleGapMs } from '../../src/config/index.js';
import { parseDuration } from '../../src/util/duration.js';

const T = (f: string) => path.join(REPO, 'templates', f);
const RULE_FILES = ['prometheus/wks-alerts.yml', 'prometheus/wks-cron-alerts.yml'];
type Rule = { alert: string; expr: string; for?: string; labels?: Record<string, string> };
const rules = (f: string): Rule[] => parse(readFileSync(T(f), 'utf8')).groups.flatMap((g: any) => g.rules);

describe('shipped Prometheus files', () => {
  it('promtool check config passes on the scrape config as shipped (it finds the rule files beside it)', (ctx) => {
    if (!needBinary('promtool', 'prometheus', ctx)) return;
    const r = spawnSync('promtool', ['check', 'config', T('prometheus/prometheus-scrape.yml')], { encoding: 'utf8' });
    expect(r.status, `${r.stdout}${r.stderr}`).toBe(0);
    expect(r.stdout).toMatch(/SUCCESS: 2 rule files found/);
  });

  it('promtool check rules passes on every rule file', (ctx) => {
    if (!needBinary('promtool', 'prometheus', ctx)) return;
    const r = spawnSync('promtool', ['check', 'rules', ...RULE_FILES.map(T)], { encoding: 'utf8' });
    expect(r.status, `${r.stdout}${r.stderr}`).toBe(0);
  });

  it('every rule has a for:, absent() rules wait far longer than the scrape interval', () => {
    const scrapeS =
      (parseDuration(parse(readFileSync(T('prometheus/prometheus-scrape.yml'), 'utf8')).global.scrape_interval) ?? 0) /
      1000;
    for (const f of RULE_FILES)
      for (const r of rules(f)) {
        expect(r.for, `${f}: ${r.alert}`).toBeDefined();
        const forS = parseDuration(r.for!)! / 1000;
        expect(forS, `${f}: ${r.alert}`).toBeGreaterThan(0);
        if (/absent\(/.test(r.expr)) expect(forS, r.alert).toBeGreaterThanOrEqual(10 * scrapeS);
      }
  });

  it('the built-in notifier waits the same for-durations as the Prometheus rules', () => {
    const byRule = new Map<string, string>();
    for (const r of rules('prometheus/wks-alerts.yml'))
      if (r.labels?.rule && !/absent\(/.test(r.expr)) byRule.set(r.labels.rule, r.for!);
    const builtins = buildRules(structuredClone(DEFAULTS));
    for (const b of builtins) {
      const prom = byRule.get(b.name);
      expect(prom, `no Prometheus rule for ${b.name}`).toBeDefined();
      expect(b.forMs, b.name).toBe(parseDuration(prom!));
    }
    for (const [name, d] of Object.entries(BUILTIN_FOR)) expect(byRule.get(name), name).toBe(d);
  });
});

describe('schedule and RPO agree', () => {
  const rpoMs = parseDuration(DEFAULTS.health.backup_rpo)!;

  it('the default backup schedule, the crontab and the Kubernetes CronJob back up more often than the RPO', () => {
    expect(scheduleGapMs(DEFAULTS.database.backup.schedule)).toBeLessThan(rpoMs);
    const cron = readFileSync(T('cron/wks.crontab'), 'utf8')
      .split('\n')
      .find((l) => /backup create/.test(l) && !l.startsWith('#'))!;
    const schedule = cron.split(/\s+/).slice(0, 5).join(' ');
    expect(scheduleGapMs(schedule)).toBeLessThan(rpoMs);
    const k8s = parse(readFileSync(T('kubernetes/wks-cronjob.yaml'), 'utf8'));
    expect(scheduleGapMs(k8s.spec.schedule)).toBeLessThan(rpoMs);
    // The rules alert at the same RPO (3600 s).
    expect(rules('prometheus/wks-alerts.yml').find((r) => r.alert === 'WksBackupStale')!.expr).toMatch(
      new RegExp(`> ${rpoMs / 1000}$`),
    );
  });

  it('configAdvice: the defaults agree; a daily schedule with the 1 h RPO is a warning', () => {
    expect(configAdvice(structuredClone(DEFAULTS))).toEqual([]);
    const daily = structuredClone(DEFAULTS);
    daily.database.backup.schedule = '0 2 * * *';
    const w = configAdvice(daily);
    expect(w).toHaveLength(1);
    expect(w[0]).toMatch(/leaves up to 1d between backups, so it cannot meet the RPO health\.backup_rpo = 1h/);
    daily.health.backup_rpo = '25h';
    expect(configAdvice(daily)).toEqual([]);
  });
});
