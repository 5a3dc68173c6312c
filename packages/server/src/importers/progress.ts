import cliProgress from 'cli-progress';

/** What importers report while they work; the CLI draws a bar, tests pass a silent one. */
export interface Progress {
  /** A new phase with `total` units of work (bytes, runs, files). */
  start(total: number, unit: string): void;
  advance(n: number): void;
  points(n: number): void;
  stop(): void;
}

export const silentProgress: Progress = { start() {}, advance() {}, points() {}, stop() {} };

/** A cli-progress bar on stderr when stdout is a terminal; nothing otherwise (logs and pipes stay clean). */
export function terminalProgress(enabled = Boolean(process.stdout.isTTY)): Progress {
  if (!enabled) return silentProgress;
  let bar: cliProgress.SingleBar | undefined;
  let points = 0;
  let unit = '';
  const fmt = (n: number) => (unit === 'bytes' ? `${(n / 2 ** 20).toFixed(1)} MiB` : String(n));
  return {
    start(total, u) {
      bar?.stop();
      unit = u;
      bar = new cliProgress.SingleBar(
        {
          format: ' {bar} {percentage}% | {done}/{all} | {points} points | ETA {eta_formatted}',
          hideCursor: true,
          clearOnComplete: false,
          stream: process.stderr,
          fps: 5,
        },
        cliProgress.Presets.shades_classic,
      );
      bar.start(total, 0, { done: fmt(0), all: fmt(total), points });
    },
    advance(n) {
      if (!bar) return;
      bar.increment(n, { done: fmt(bar.getProgress() * bar.getTotal() + n), points });
    },
    points(n) {
      points += n;
      bar?.update({ points });
    },
    stop() {
      bar?.stop();
      bar = undefined;
    },
  };
}
