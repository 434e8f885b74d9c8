/**
 * What a command must undo when it is interrupted (SIGINT, SIGTERM): child
 * processes to kill, temporary files (plaintext, passfiles) to remove.
 * Domain code registers and unregisters; the CLI's signal handler calls
 * `runInterruptCleanup()` and then exits 130 (SIGINT) or 143 (SIGTERM).
 * Everything here is synchronous so that it can run from a signal handler
 * right before the process exits.
 */
import type { ChildProcess } from 'node:child_process';

const cleanups = new Set<() => void>();
const children = new Set<ChildProcess>();

/** Run `fn` if the process is interrupted before the returned function is called (which unregisters it). */
export function onInterrupt(fn: () => void): () => void {
  cleanups.add(fn);
  return () => void cleanups.delete(fn);
}

/** Kill `child` (SIGKILL) if the process is interrupted while it runs. Returns the child. */
export function trackChild<T extends ChildProcess>(child: T): T {
  children.add(child);
  child.once('exit', () => children.delete(child));
  child.once('error', () => children.delete(child));
  return child;
}

/** Kill every tracked child and run every registered cleanup (newest first); errors are swallowed. Returns how many ran. */
export function runInterruptCleanup(): number {
  let n = 0;
  for (const child of children) {
    try {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    } catch {
      /* already gone */
    }
    n++;
  }
  children.clear();
  for (const fn of [...cleanups].reverse()) {
    try {
      fn();
    } catch {
      /* best effort: the next run's sweep removes what is left */
    }
    n++;
  }
  cleanups.clear();
  return n;
}

/** The conventional exit code of a process ended by `sig`: 128 + its number (SIGINT 130, SIGTERM 143). */
export const signalExitCode = (sig: 'SIGINT' | 'SIGTERM'): number => (sig === 'SIGINT' ? 130 : 143);
