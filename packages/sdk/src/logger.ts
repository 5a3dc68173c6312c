/** Tiny logger interface; the default writes to the console with an `[assay]` prefix. */
export interface Logger {
  debug(msg: string): void;
  info(msg: string): void;
  warn(msg: string): void;
  error(msg: string): void;
}

const levels = { debug: 10, info: 20, warn: 30, error: 40, silent: 100 } as const;
export type LogLevel = keyof typeof levels;

export function consoleLogger(level?: LogLevel): Logger {
  const envLevel = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env?.ASSAY_LOG_LEVEL;
  const lvl = levels[(level ?? (envLevel as LogLevel | undefined) ?? 'warn') as LogLevel] ?? levels.warn;
  const mk = (n: number, fn: (m: string) => void) => (msg: string) => {
    if (n >= lvl) fn(`[assay] ${msg}`);
  };
  return {
    debug: mk(levels.debug, (m) => console.debug(m)),
    info: mk(levels.info, (m) => console.info(m)),
    warn: mk(levels.warn, (m) => console.warn(m)),
    error: mk(levels.error, (m) => console.error(m)),
  };
}

export const silentLogger: Logger = { debug() {}, info() {}, warn() {}, error() {} };
