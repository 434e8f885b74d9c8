/**
 * `wks init`: write the commented config template. Never overwrites silently.
 */
import { existsSync, readFileSync, copyFileSync } from 'node:fs';
import path from 'node:path';
import { ConflictError } from '../errors.js';
import { writeFileAtomic } from '../util/fs.js';

/** The commented template shipped in templates/. */
export const TEMPLATE_PATH = new URL('../../templates/phase4-config.yml', import.meta.url);

export interface InitResult {
  path: string;
  overwritten: boolean;
  backup: string | null;
}

/**
 * Write templates/phase4-config.yml to `target` (atomically, mode 0600, since
 * operators put secrets in it). Throws ConflictError (exit 4) if the file exists
 * and `force` is not set; with `force` the old file is kept as `<target>.bak`.
 */
export function writeConfigTemplate(target: string, opts: { force?: boolean } = {}): InitResult {
  const abs = path.resolve(target);
  const exists = existsSync(abs);
  if (exists && !opts.force) {
    throw new ConflictError(`${target} already exists; not overwriting it`, {
      hint: `edit it, or re-run with --force (the old file is kept as ${target}.bak)`,
    });
  }
  let backup: string | null = null;
  if (exists) {
    backup = `${abs}.bak`;
    copyFileSync(abs, backup);
  }
  writeFileAtomic(abs, readFileSync(TEMPLATE_PATH, 'utf8'), { mode: 0o600 });
  return { path: abs, overwritten: exists, backup };
}
