import { describe, expect, it } from 'vitest';
import { ConfigError, describeStores, loadConfig } from '../src/config.ts';

describe('config', () => {
  it('defaults to embedded stores under ./.assay on port 8000', () => {
    const c = loadConfig({}, {});
    expect(c.PORT).toBe(8000);
    expect(c.postgres).toMatchObject({ kind: 'pglite' });
    expect(c.clickhouse).toMatchObject({ kind: 'chdb' });
    expect(c.dataDir).toMatch(/\.assay$/);
  });
  it('switches to servers by URL and never prints credentials', () => {
    const c = loadConfig({}, { DATABASE_URL: 'postgres://u:secret@db:5432/x', CLICKHOUSE_URL: 'http://ch:8123' });
    expect(c.postgres).toEqual({ kind: 'postgres', url: 'postgres://u:secret@db:5432/x' });
    expect(JSON.stringify(describeStores(c))).not.toContain('secret');
  });
  it('names the bad variable in a one-line error', () => {
    expect(() => loadConfig({}, { PORT: 'eighty' })).toThrow(ConfigError);
    expect(() => loadConfig({}, { PORT: 'eighty' })).toThrow(/^invalid configuration: PORT: /);
    expect(() => loadConfig({}, { DATABASE_URL: 'mysql://x' })).toThrow(/DATABASE_URL/);
    expect(() => loadConfig({}, { LOG_LEVEL: 'loud' })).toThrow(/LOG_LEVEL/);
  });
  it('flags override the environment', () => {
    expect(loadConfig({ PORT: '9001' }, { PORT: '8000' }).PORT).toBe(9001);
  });
});
