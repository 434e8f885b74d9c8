/** The logging callback domain code reports through (it never writes to stdout or stderr itself). */
export type LogLevel = 'error' | 'warn' | 'info' | 'debug';

export type Logger = (level: LogLevel, message: string, fields?: Record<string, unknown>) => void;

export const LOG_LEVELS: readonly LogLevel[] = ['error', 'warn', 'info', 'debug'];
