/**
 * Process hooks for runs that end without finish(): when the event loop empties, finish('complete')
 * runs by itself; on process.exit() or a crash, everything unsent is written synchronously to the
 * spool with a final status. Node only.
 */
interface ExitAware {
  _onBeforeExit(): void;
  _onExit(code: number): void;
}

/** Experiments not finished yet. */
export const liveExperiments = new Set<ExitAware>();
let installed = false;

export function installExitHooks(): void {
  if (installed || typeof process === 'undefined' || typeof process.on !== 'function') return;
  installed = true;
  process.on('beforeExit', () => {
    for (const e of liveExperiments) e._onBeforeExit();
  });
  process.on('exit', (code) => {
    for (const e of liveExperiments) e._onExit(code);
  });
}
