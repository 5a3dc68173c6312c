/** `npm run test:soak`: the crash-safety scenario with 5× the kills and the data of the bounded run in `npm test`. */
import { describe, it } from 'vitest';
import { runCrashScenario } from '../crash-scenario.ts';

describe('crash safety (soak)', () => {
  it('every acknowledged point stored exactly once across 100 kill -9 + restarts; no batch half-written', async () => {
    console.log(await runCrashScenario({ kills: Number(process.env.ASSAY_SOAK_KILLS ?? 100), stepsPerTick: 5 }));
  }, 3 * 3600_000);
});
