import { describe, expect, it } from 'vitest';
import { ClickHouseStore } from '../src/stores/clickhouse/query.ts';
import { QueryLimitError } from '../src/stores/errors.ts';
import { useTestServer } from './helpers.ts';

/**
 * A chDB session prepends the output a failed statement had already produced to its next result.
 * A read stopped by the time limit mid-stream must never leak its rows into anyone's next answer:
 * without the session pool's probe, the `SELECT 1` after it returned thousands of rows.
 */
const t = useTestServer('chdbpool');
// A read that streams rows for as long as it is allowed to: stopped by the limit mid-output.
const ENDLESS = 'SELECT number FROM numbers(100000000000) WHERE sipHash64(number) % 1000 = 3';

describe('chDB sessions after a failed statement', () => {
  const limited = () =>
    new ClickHouseStore({ client: t.srv.ctx.ch.client, kind: t.srv.ctx.ch.kind }, { maxExecutionSeconds: 0.2, maxMemoryBytes: 1e9 });
  const tenant = () => ({ teamId: t.team.teamId });

  it('the next statement answers exactly, one after another', async () => {
    const ch = limited();
    for (let i = 0; i < 3; i++) {
      await expect(ch.rows(tenant(), 'endless', ENDLESS)).rejects.toBeInstanceOf(QueryLimitError);
      expect(await ch.rows(tenant(), 'one', 'SELECT 1')).toEqual([[1]]);
    }
  });

  it('concurrent reads beside failing ones all answer exactly', async () => {
    const ch = limited();
    const sizes = Array.from({ length: 24 }, (_, i) => 1 + (i % 7) * 1000);
    const results = await Promise.all([
      ...Array.from({ length: 4 }, () => ch.rows(tenant(), 'endless', ENDLESS).then(() => 'finished', (e: unknown) => (e instanceof QueryLimitError ? 'stopped' : String(e)))),
      ...sizes.map((n) => ch.rows(tenant(), 'sized', 'SELECT number FROM numbers({n:UInt64})', { n }).then((r) => r.length)),
    ]);
    expect(results).toEqual([...Array(4).fill('stopped'), ...sizes]);
  });
});
