/** kill -9 at random moments, ≥ 20 times, while the SDK and a raw client write: see crash-scenario.ts. */
import { describe, it } from 'vitest';
import { runCrashScenario } from './crash-scenario.ts';

describe('crash safety', () => {
  it('every acknowledged point stored exactly once across 20 kill -9 + restarts; no batch half-written', async () => {
    console.log(await runCrashScenario({ kills: Number(process.env.ASSAY_CRASH_KILLS ?? 20), stepsPerTick: 2 }));
  }, 1_800_000);
});
