/**
 * `config`: the configuration is valid and usable. The loader has already
 * validated every key and cross-field rule (an invalid config never reaches
 * here: `wks health` reports it as this check being critical). This check adds
 * what only the filesystem can tell and the loader's non-fatal warnings.
 */
import { accessSync, constants, statSync } from 'node:fs';
import { parseDuration, formatDuration } from '../../util/duration.js';
import type { CheckDefinition, CheckOutcome } from '../types.js';
import { nearestExistingDir } from '../../util/disk.js';
import { configAdvice, scheduleGapMs } from '../../config/index.js';

export const configCheck: CheckDefinition = {
  name: 'config',
  description: 'configuration is valid; key file and backup directory are usable',
  async run(ctx): Promise<CheckOutcome> {
    const { config } = ctx;
    const problems: string[] = [];
    const warnings: string[] = [...ctx.configWarnings, ...configAdvice(config)];
    let hint: string | undefined;

    const keyFile = config.database.backup.encryption.key_file;
    if (config.database.backup.encryption.enabled && keyFile) {
      // The same checks a backup makes: readable, owned by this user or root, not writable by others.
      const { keySourceFromConfig } = await import('../../backup/index.js');
      try {
        keySourceFromConfig(config, (w) => warnings.push(w));
      } catch (err) {
        problems.push((err as Error).message);
        hint =
          (err as { hint?: string }).hint ??
          'fix BACKUP_ENCRYPTION_KEY_FILE (phase4.database.backup.encryption.key_file)';
      }
    }

    const dir = config.database.backup.storage_path;
    try {
      const st = statSync(dir);
      if (!st.isDirectory()) problems.push(`backup path ${dir} is not a directory`);
      else accessSync(dir, constants.W_OK | constants.X_OK);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') {
        // Created by the first `wks backup create`; only a problem if it could not be.
        const parent = nearestExistingDir(dir);
        try {
          accessSync(parent, constants.W_OK | constants.X_OK);
        } catch {
          problems.push(`backup directory ${dir} does not exist and ${parent} is not writable`);
        }
      } else if (code === 'EACCES' || code === 'EPERM') {
        problems.push(`backup directory ${dir} is not writable`);
      }
    }
    if (problems.length > 0 && !hint)
      hint = 'fix BACKUP_STORAGE_PATH (phase4.database.backup.storage_path) or the directory permissions';

    const h = config.health;
    if (h.check_timeout_ms > h.timeout_ms) {
      warnings.push(
        `health.check_timeout_ms (${h.check_timeout_ms}) exceeds health.timeout_ms (${h.timeout_ms}); checks get ${h.timeout_ms} ms`,
      );
    }
    const rpo = parseDuration(h.backup_rpo) ?? 0;
    const interval = scheduleGapMs(config.database.backup.schedule);
    const data = { file: ctx.configFile ?? null, backupRpoMs: rpo, backupIntervalMs: interval };

    if (problems.length > 0) return { status: 'critical', detail: problems.join('; '), hint, data };
    if (warnings.length > 0) {
      return {
        status: 'warn',
        detail: warnings.join('; '),
        hint: 'run `wks config validate` and `wks config show --sources`',
        data,
      };
    }
    return {
      status: 'ok',
      detail: `valid (${ctx.configFile ?? 'defaults and environment'}); backup RPO ${formatDuration(rpo)}`,
      data,
    };
  },
};
