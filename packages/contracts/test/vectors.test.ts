import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { POINT_VECTORS, renderVectorsJson } from '../src/vectors.ts';

const file = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'vectors.json');

describe('contract vectors', () => {
  it('vectors.json is what src/vectors.ts renders (regenerate with npm run gen:contract-vectors)', () => {
    expect(fs.existsSync(file), 'vectors.json is missing').toBe(true);
    expect(fs.readFileSync(file, 'utf8')).toBe(renderVectorsJson());
  });

  it('every field has accepted and refused cases', () => {
    for (const field of ['metric_name', 'step', 'metric_value', 'timestamp', 'host'] as const) {
      const cases = POINT_VECTORS.filter((v) => v.field === field);
      expect(cases.some((v) => v.accept), field).toBe(true);
      expect(cases.some((v) => !v.accept), field).toBe(true);
    }
  });
});
