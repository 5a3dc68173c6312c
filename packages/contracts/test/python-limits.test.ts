import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { LIMITS } from '../src/limits.ts';
import { PYTHON_LIMITS_FILE, renderPythonLimits } from '../../../scripts/gen-python-limits.ts';

describe('python/research_sdk/_limits.py', () => {
  it('is what scripts/gen-python-limits.ts renders from LIMITS (regenerate with npm run gen:python-limits)', () => {
    // Never written here: a missing or stale file must fail, not be repaired by the test run.
    expect(fs.existsSync(PYTHON_LIMITS_FILE), `${PYTHON_LIMITS_FILE} is missing`).toBe(true);
    expect(fs.readFileSync(PYTHON_LIMITS_FILE, 'utf8')).toBe(renderPythonLimits());
  });

  it('carries every limit, by value', () => {
    const text = renderPythonLimits();
    expect(text.startsWith('# GENERATED')).toBe(true);
    for (const v of Object.values(LIMITS)) expect(text).toContain(` = ${v}\n`);
    expect(text).toContain('STEP_MAX = 9007199254740991\n');
    expect(text).toContain('TIMESTAMP_MAX_MS = 4294967295999\n');
  });

  it('a drifted limit renders differently', () => {
    expect(renderPythonLimits({ ...LIMITS, metricNameMax: 251 })).not.toBe(renderPythonLimits());
  });
});
