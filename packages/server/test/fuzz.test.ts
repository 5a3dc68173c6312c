/** Schemathesis against the live server's /openapi.json, bounded for `npm test` (fuzz-run.ts). */
import { describe, expect, it } from 'vitest';
import { runFuzz } from './fuzz-run.ts';

describe('schemathesis', () => {
  it('no 5xx, no undeclared status, no response outside its schema, on every operation', async () => {
    // bounded for npm test: a few examples per operation and a time budget; soak/fuzz.test.ts runs many more
    const r = await runFuzz({ maxExamples: Number(process.env.ASSAY_FUZZ_EXAMPLES ?? 5), maxSeconds: Number(process.env.ASSAY_FUZZ_SECONDS ?? 80) });
    console.log(`schemathesis: ${r.operations} operations, ${r.generated} test cases, ${r.failures} failures`);
    expect(r.exitCode, r.output.slice(-20_000)).toBe(0);
    expect(r.operations).toBe(r.expectedOperations);
  }, 1_800_000);
});
