import http from 'node:http';
import type net from 'node:net';

/*
 * A fake MLflow tracking server for the importer tests (node:http answering the REST calls the
 * importer makes: a source server is not one of our stores). `hook` answers first where a test
 * wants a damaged or hostile answer.
 */

export interface Req { method: string; path: string; query: URLSearchParams; body: Record<string, any> }
/** An answer: JSON, or raw text with headers; `handle` takes the response itself (a cut body). */
export interface Reply { status?: number; json?: unknown; text?: string | Buffer; headers?: Record<string, string>; handle?: (res: http.ServerResponse) => void }

export interface World {
  experiments: unknown[];
  /** experiment id → runs (one page). */
  runs: Record<string, unknown[]>;
  /** `${run id}/${metric key}` → points (one page) or a raw JSON text. */
  history?: Record<string, unknown[] | string>;
  /** `${run id}/${dir}` → entries of artifacts/list. */
  lists?: Record<string, unknown[]>;
  /** `${run id}/${path}` → bytes of get-artifact. */
  files?: Record<string, string>;
}

/** The REST calls as a real MLflow server answers them from the world; `hook` answers first where it wants. */
export async function fakeMlflow(world: World, hook: (r: Req) => Reply | undefined = () => undefined) {
  const calls: string[] = [];
  const serve = (r: Req): Reply => {
    const q = (k: string) => r.query.get(k) ?? '';
    switch (r.path) {
      case '/api/2.0/mlflow/experiments/search': return { json: { experiments: world.experiments } };
      case '/api/2.0/mlflow/runs/search': return { json: { runs: world.runs[r.body.experiment_ids[0]] ?? [] } };
      case '/api/2.0/mlflow/metrics/get-history': {
        const h = world.history?.[`${q('run_id')}/${q('metric_key')}`] ?? [];
        return typeof h === 'string' ? { text: h, headers: { 'content-type': 'application/json' } } : { json: { metrics: h } };
      }
      case '/api/2.0/mlflow/artifacts/list': return { json: { files: world.lists?.[`${q('run_id')}/${q('path')}`] ?? [] } };
      case '/get-artifact': {
        const f = world.files?.[`${q('run_id')}/${q('path')}`];
        return f === undefined ? { status: 404, json: { error_code: 'RESOURCE_DOES_NOT_EXIST' } } : { text: f, headers: { 'content-type': 'application/octet-stream' } };
      }
    }
    return { status: 404, json: { error_code: 'ENDPOINT_NOT_FOUND' } };
  };
  const server = http.createServer(async (req, res) => {
    let raw = '';
    for await (const c of req) raw += c;
    const u = new URL(req.url!, 'http://x');
    const r: Req = { method: req.method!, path: u.pathname, query: u.searchParams, body: raw ? JSON.parse(raw) : {} };
    calls.push(`${r.method} ${u.pathname}${u.search}${raw ? ` ${raw}` : ''}`);
    const a = hook(r) ?? serve(r);
    if (a.handle) return a.handle(res);
    res.writeHead(a.status ?? 200, { 'content-type': 'application/json', ...a.headers }).end(a.text ?? JSON.stringify(a.json));
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  return {
    url: `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`,
    calls,
    close: () => new Promise<void>((ok) => {
      server.close(() => ok());
      server.closeAllConnections(); // a stalled answer's connection too
    }),
  };
}

export const T0 = 1_700_000_000_000;
export const experiment = (id: string, name = `exp-${id}`) => ({ experiment_id: id, name, lifecycle_stage: 'active' });
export const run = (id: string, keys: string[], more: Record<string, unknown> = {}, data: Record<string, unknown> = {}) => ({
  info: { run_id: id, run_name: id, status: 'FINISHED', start_time: T0, end_time: T0 + 1000, artifact_uri: `s3://bucket/${id}/artifacts`, lifecycle_stage: 'active', ...more },
  data: { metrics: keys.map((key) => ({ key })), ...data },
});
export const history = (n: number, value = (s: number) => s / 2) => Array.from({ length: n }, (_, s) => ({ key: 'k', value: value(s), timestamp: T0 + s, step: s }));

export async function withSource<T>(world: World, hook: Parameters<typeof fakeMlflow>[1], body: (source: Awaited<ReturnType<typeof fakeMlflow>>) => Promise<T>): Promise<T> {
  const source = await fakeMlflow(world, hook);
  try {
    return await body(source);
  } finally {
    await source.close();
  }
}
