/** `npm run test:soak`: schemathesis with many more examples per operation than `npm test` (fuzz-run.ts). */
import { describe, expect, it } from 'vitest';
import { runFuzz } from '../fuzz-run.ts';

describe('schemathesis (soak)', () => {
  it('no 5xx, no undeclared status, no response outside its schema, with many examples', async () => {
    const r = await runFuzz({ maxExamples: Number(process.env.ASSAY_SOAK_FUZZ_EXAMPLES ?? 200) });
    console.log(`schemathesis: ${r.operations} operations, ${r.generated} test cases, ${r.failures} failures`);
    expect(r.exitCode, r.output.slice(-20_000)).toBe(0);
    expect(r.operations).toBe(r.expectedOperations);
  }, 3 * 3600_000);
});
