import { describe, expect, it } from 'vitest';
import { ConfigError, describeStores, insecureSettings, loadConfig, workersRefusal } from '../src/config.ts';

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

// The design document's production settings (.env.production), accepted as written.
describe('config: the design document\'s settings', () => {
  const doc = {
    DATABASE_URL: 'postgresql://user:password@db.example.com:5432/research_platform',
    CLICKHOUSE_HOST: 'clickhouse.example.com',
    CLICKHOUSE_PORT: '9000',
    CLICKHOUSE_USER: 'metrics_user',
    CLICKHOUSE_PASSWORD: 'secure_password',
    CLICKHOUSE_DATABASE: 'metrics',
    REDIS_URL: 'redis://redis.example.com:6379/0',
    LOG_LEVEL: 'INFO',
    WORKERS: '4',
    ENVIRONMENT: 'production',
  };
  it('parses .env.production as written; the native port 9000 becomes HTTP 8123 with a notice', () => {
    const c = loadConfig({}, doc);
    expect(c.clickhouse).toEqual({ kind: 'http', url: 'http://clickhouse.example.com:8123' });
    expect([c.CLICKHOUSE_USER, c.CLICKHOUSE_PASSWORD, c.CLICKHOUSE_DATABASE]).toEqual(['metrics_user', 'secure_password', 'metrics']);
    expect([c.LOG_LEVEL, c.WORKERS, c.ENVIRONMENT, c.REDIS_URL]).toEqual(['info', 4, 'production', 'redis://redis.example.com:6379/0']);
    expect(c.notices).toEqual([
      "CLICKHOUSE_PORT=9000 is ClickHouse's native-protocol port; Assay talks HTTP, so it uses port 8123 on clickhouse.example.com. " +
        'Set CLICKHOUSE_HTTP_PORT if your server serves HTTP on another port.',
    ]);
    expect(workersRefusal(c)).toBeUndefined();
    // only the plain-http hop to a remote ClickHouse is insecure here
    expect(insecureSettings(c)).toEqual([
      'ClickHouse at clickhouse.example.com:8123 is reached over plain http: its password crosses the network unencrypted (use https:// or CLICKHOUSE_SECURE=true)',
    ]);
  });
  it('CLICKHOUSE_HOST/PORT/HTTP_PORT/SECURE derive the URL; conflicts are one-line errors', () => {
    const url = (env: Record<string, string>) => {
      const c = loadConfig({}, env);
      return [c.clickhouse.kind === 'http' ? c.clickhouse.url : c.clickhouse.kind, c.notices.length];
    };
    expect(url({ CLICKHOUSE_HOST: 'ch' })).toEqual(['http://ch:8123', 0]);
    expect(url({ CLICKHOUSE_HOST: 'ch', CLICKHOUSE_PORT: '18123' })).toEqual(['http://ch:18123', 0]);
    expect(url({ CLICKHOUSE_HOST: 'ch', CLICKHOUSE_PORT: '9000', CLICKHOUSE_HTTP_PORT: '8124' })).toEqual(['http://ch:8124', 0]);
    expect(url({ CLICKHOUSE_HOST: 'ch', CLICKHOUSE_SECURE: 'TRUE' })).toEqual(['https://ch:8443', 0]);
    expect(url({ CLICKHOUSE_HOST: 'ch', CLICKHOUSE_PORT: '9440', CLICKHOUSE_SECURE: 'true' })).toEqual(['https://ch:8443', 1]);
    expect(url({ CLICKHOUSE_HOST: '::1' })).toEqual(['http://[::1]:8123', 0]);
    expect(url({ CLICKHOUSE_HOST: '' })).toEqual(['chdb', 0]);
    expect(() => loadConfig({}, { CLICKHOUSE_HOST: 'ch', CLICKHOUSE_URL: 'http://ch:8123' })).toThrow(
      'invalid configuration: CLICKHOUSE_HOST: set CLICKHOUSE_URL or CLICKHOUSE_HOST, not both',
    );
    expect(() => loadConfig({}, { CLICKHOUSE_PORT: '9000' })).toThrow('invalid configuration: CLICKHOUSE_PORT: needs CLICKHOUSE_HOST');
    expect(() => loadConfig({}, { CLICKHOUSE_HTTP_PORT: '8123' })).toThrow('invalid configuration: CLICKHOUSE_HTTP_PORT: needs CLICKHOUSE_HOST');
    expect(() => loadConfig({}, { CLICKHOUSE_HOST: 'http://ch:8123' })).toThrow(/^invalid configuration: CLICKHOUSE_HOST: a host name/);
    expect(() => loadConfig({}, { CLICKHOUSE_HOST: 'ch', CLICKHOUSE_PORT: '0' })).toThrow(/^invalid configuration: CLICKHOUSE_PORT: /);
    expect(() => loadConfig({}, { CLICKHOUSE_HOST: 'ch', CLICKHOUSE_SECURE: 'yes' })).toThrow(/^invalid configuration: CLICKHOUSE_SECURE: /);
  });
  it('LOG_LEVEL and ENVIRONMENT are case-insensitive; Python level names work', () => {
    const level = (v: string) => loadConfig({}, { LOG_LEVEL: v }).LOG_LEVEL;
    expect(['INFO', 'Debug', ' warn ', 'WARNING', 'ERROR', 'CRITICAL', 'silent'].map(level)).toEqual(['info', 'debug', 'warn', 'warn', 'error', 'fatal', 'silent']);
    expect(() => level('LOUD')).toThrow(/^invalid configuration: LOG_LEVEL: /);
    expect(loadConfig({}, {}).ENVIRONMENT).toBe('development');
    expect(loadConfig({}, { ENVIRONMENT: 'Production' }).ENVIRONMENT).toBe('production');
    expect(() => loadConfig({}, { ENVIRONMENT: 'prod' })).toThrow(/^invalid configuration: ENVIRONMENT: /);
  });
  it('WORKERS: 1 by default, 1–64, refused with a reason while a store is embedded', () => {
    expect(loadConfig({}, {}).WORKERS).toBe(1);
    expect(() => loadConfig({}, { WORKERS: '0' })).toThrow(/^invalid configuration: WORKERS: /);
    expect(() => loadConfig({}, { WORKERS: 'four' })).toThrow(/^invalid configuration: WORKERS: /);
    expect(workersRefusal(loadConfig({}, { WORKERS: '1' }))).toBeUndefined();
    expect(workersRefusal(loadConfig({}, { WORKERS: '4' }))).toBe(
      'WORKERS=4 ignored: the embedded PGlite (no DATABASE_URL) and chDB (no CLICKHOUSE_URL or CLICKHOUSE_HOST) belong to one process (the data dir lock), ' +
        'so Assay serves from one process. Set DATABASE_URL and CLICKHOUSE_URL (or CLICKHOUSE_HOST) to run several API workers.',
    );
    expect(workersRefusal(loadConfig({}, { WORKERS: '2', DATABASE_URL: doc.DATABASE_URL }))).toMatch(/^WORKERS=2 ignored: the embedded chDB \(/);
    expect(workersRefusal(loadConfig({}, { WORKERS: '2', CLICKHOUSE_HOST: 'ch' }))).toMatch(/^WORKERS=2 ignored: the embedded PGlite \(/);
  });
  it('insecureSettings names each insecure setting once', () => {
    expect(insecureSettings(loadConfig({}, {}))).toEqual([]);
    const c = loadConfig({}, {
      CLICKHOUSE_URL: 'http://localhost:8123',
      DATABASE_URL: 'postgres://assay@localhost/assay',
      HOST: '0.0.0.0',
      ASSAY_CORS_ORIGINS: '*',
      ASSAY_RATE_LIMIT_PER_MINUTE: '0',
      WORKERS: '2',
    });
    expect(insecureSettings(c)).toEqual([
      'CLICKHOUSE_PASSWORD is empty: the ClickHouse user "default" has no password',
      'DATABASE_URL has no password',
      'HOST=0.0.0.0 serves other machines and ASSAY_ALLOWED_HOSTS is empty: any Host header is answered (DNS rebinding); list the names clients use',
      'ASSAY_CORS_ORIGINS contains "*": list the origins that may call the API instead',
      'ASSAY_RATE_LIMIT_PER_MINUTE=0: no per-key rate limit',
      'WORKERS=2 without REDIS_URL: each worker counts rate limits on its own, so a key gets 2× ASSAY_RATE_LIMIT_PER_MINUTE',
    ]);
    expect(insecureSettings(loadConfig({}, { HOST: '0.0.0.0', ASSAY_ALLOWED_HOSTS: 'assay.example.com' }))).toEqual([]);
  });
});
