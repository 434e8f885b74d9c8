/** Human byte sizes, shared by health details and command output. */

/**
 * `512 B`, `1.5 KiB`, `3.2 GiB` (binary units up to PiB, one decimal above
 * bytes). Negative sizes keep their sign; non-finite numbers print as-is.
 */
export function formatBytes(n: number): string {
  if (!Number.isFinite(n)) return String(n);
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let v = n;
  let i = 0;
  while (Math.abs(v) >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return i === 0 ? `${v} B` : `${v.toFixed(1)} ${units[i]}`;
}
