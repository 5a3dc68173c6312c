import { hasLoneSurrogate } from '@assay/contracts';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ClickHouseStore } from '../src/stores/clickhouse/query.ts';
import { seedRun, startTestServer, type Res, type TestServer, type TestTeam } from './helpers.ts';

/**
 * Hostile input on every registered API route (walked from srv.routes; the cases come from each
 * route's OpenAPI schema): every path parameter, query parameter and string field of the JSON body
 * gets NUL, unpaired surrogates, invalid UTF-8, injection strings, traversal paths, huge strings.
 * Each answer must be a 4xx with a `{detail}` (a 422 names the field), or a 2xx that stored the
 * value verbatim; never a 5xx, and a refused write leaves the team's stored state byte-identical.
 * A route with a JSON body needs a valid base body in BODIES (a new route without one fails).
 */
const HOSTILE_TEXT = [
  'nul\u0000byte',
  'lone \ud800 high',
  'lone \udfff low',
  "'; DROP TABLE metrics; --",
  '{team_id:UUID}',
  "\\' OR 1=1 --",
  '../../etc/passwd',
  '..\\..\\windows\\win.ini',
  '%2e%2e%2f',
  '%252e%252e%252f',
  '/etc/passwd',
  'C:\\Windows',
  '\u202etxt.exe',
  '😀'.repeat(300),
  'x'.repeat(100_000),
];
/** Percent-encoded bytes that are not UTF-8 (a surrogate's bytes, 0xFF) or NUL, spliced raw into the URL. */
const RAW_URL_BYTES = ['%ED%A0%80', '%FF%FE', '%00', '%C0%AF', '..%2f..%2f'];
const HUGE = 'x'.repeat(10 * 1024 * 1024);
/** Hostile text as it can appear in a URL (a lone surrogate has no percent-encoding: RAW_URL_BYTES carries its bytes). */
const URL_VALUES = [...HOSTILE_TEXT.filter((v) => !hasLoneSurrogate(v)).map(encodeURIComponent), ...RAW_URL_BYTES];

let srv: TestServer;
let team: TestTeam;
let ids: Record<string, string>;
let doc: { paths: Record<string, Record<string, any>> };
let unlimited: ClickHouseStore;

let seq = 0;

/** Query parameters a route needs to get past validation (the hostile value replaces one at a time). */
function baseQuery(url: string): Record<string, string> {
  if (url.endsWith('/metrics/compare')) return { project_id: ids.project_id, experiment_ids: ids.experiment_id };
  if (url.endsWith('/feature-diff')) return { experiment_ids: ids.experiment_id };
  if (url.endsWith('/artifacts') && url.includes('/api/v1/')) return { path: 'q.bin' };
  if (url.includes('/mlflow')) {
    const exp = ids.project_id.replace(/-/g, '');
    return { experiment_id: exp, experiment_ids: exp, run_id: ids.experiment_id.replace(/-/g, ''), metric_key: 'loss', experiment_name: 'hp' };
  }
  return {};
}

/** Valid base bodies (the hostile value replaces one field at a time). MLflow routes share one. */
function baseBody(method: string, url: string): unknown {
  if (url.includes('/mlflow')) {
    const exp = ids.project_id.replace(/-/g, '');
    const run = ids.experiment_id.replace(/-/g, '');
    return {
      experiment_id: exp, experiment_ids: [exp], run_id: run, source_run_id: run, name: 'mlflow-name', new_name: 'mlflow-renamed', key: 'k', value: 'v', status: 'FINISHED',
      metrics: [{ key: 'loss', value: 1, timestamp: 0, step: 0 }], params: [{ key: 'p', value: '1' }], tags: [{ key: 't', value: 'v' }], filter: '', run_name: 'r',
    };
  }
  const BODIES: Record<string, unknown> = {
    'POST /api/v1/projects': { name: 'p-new', description: 'd' },
    'PATCH /api/v1/projects/:project_id': { description: 'd2' },
    'POST /api/v1/projects/:project_id/experiments': { name: 'e-new', description: 'd', features: { lr: 0.1, opt: { name: 'adam' } }, tags: ['t'], host: 'h' },
    'PATCH /api/v1/projects/:project_id/experiments/:experiment_id': { description: 'd', features: { lr: 0.2 }, tags: ['t'], host: 'h' },
    'PUT /api/v1/projects/:project_id/experiments/:experiment_id/code': { commit: 'abc', branch: 'main', remote_url: 'https://x', dirty: false, diff: '', untracked: ['a'] },
    'POST /api/v1/projects/:project_id/experiments/:experiment_id/heartbeat': {},
    'POST /api/v1/projects/:project_id/experiments/:experiment_id/references': { to_experiment: 'other-run', kind: 'compares_to' },
    'POST /api/v1/projects/:project_id/hypotheses': { key: 'h-new', baseline_experiment: 'base-run', target_metrics: ['loss'], statement: 's' },
    'PATCH /api/v1/projects/:project_id/hypotheses/:hypothesis_id': { statement: 's2' },
    'POST /api/v1/projects/:project_id/hypotheses/:hypothesis_id/evaluate': {},
    'PUT /api/v1/projects/:project_id/metrics/:metric_name': { direction: 'minimize', description: 'd' },
    'POST /api/v1/metrics/log/:project_id/:experiment_id': { metric_name: 'loss', metric_value: 1, step: 1, host: 'h' },
    'POST /api/v1/metrics/batch/:project_id/:experiment_id': { batch_id: 'b1', metrics: [{ metric_name: 'loss', metric_value: 1, step: 2 }], series: [{ metric_name: 'acc', steps: [1], values: [0.5] }] },
    'POST /api/v1/metrics/series': { project_id: ids.project_id, series: [{ experiment_id: ids.experiment_id, metric_name: 'loss' }], buckets: 10, host: 'h' },
    'POST /api/v1/api-keys': { name: 'k-new' },
    'POST /api/v1/members': { email: `m${++seq}@example.com`, role: 'viewer', name: 'm' },
    'POST /api/v1/admin/teams': { name: 't-new' },
    'PUT /api/v1/admin/users/password': { email: 'nobody@example.com', password: 'long-enough-pw' },
    'POST /api/v1/admin/backup': { dir: '/nonexistent/backup' },
    'POST /api/v1/auth/login': { email: 'nobody@example.com', password: 'wrong-password' },
    'POST /api/v1/auth/redeem': { token: 'no-such-token', password: 'a-new-password' },
    'POST /api/v1/auth/switch-team': { team: 'no-such-team' },
    'PUT /api/v1/auth/password': { current_password: 'x-password', new_password: 'y-password' },
  };
  return BODIES[`${method} ${url}`];
}

function withQuery(filled: string, url: string): string {
  const q = new URLSearchParams(baseQuery(url));
  return q.size ? `${filled}?${q}` : filled;
}

function fill(url: string, override: Record<string, string> = {}): string {
  return url.replace(/:(\w+)/g, (_, name: string) => {
    if (name in override) return override[name];
    if (!(name in ids)) throw new Error(`hostile-input suite has no value for :${name} — add one`);
    return encodeURIComponent(ids[name]);
  });
}

/** The operation of a route in /openapi.json (':x' → '{x}'), or undefined for hidden ones. */
function operation(method: string, url: string): any {
  return doc.paths[url.replace(/:(\w+)/g, '{$1}')]?.[method.toLowerCase()];
}

/** Paths to the string fields of a base body (recursing into objects and arrays), e.g. ['metrics', 0, 'metric_name']. */
function stringFields(v: unknown, path: (string | number)[] = []): (string | number)[][] {
  if (typeof v === 'string') return [path];
  if (Array.isArray(v)) return v.flatMap((x, i) => stringFields(x, [...path, i]));
  if (v && typeof v === 'object') return Object.entries(v).flatMap(([k, x]) => stringFields(x, [...path, k]));
  return [];
}

/** Top-level string properties of the body schema that the base body leaves out: they get hostile values too. */
function schemaStringProps(op: any): string[] {
  const schema = op?.requestBody?.content?.['application/json']?.schema;
  const props = schema?.properties ?? {};
  return Object.entries(props)
    .filter(([, s]: [string, any]) => s.type === 'string' || s.anyOf?.some((x: any) => x.type === 'string'))
    .map(([k]) => k);
}

function withField(body: unknown, path: (string | number)[], value: unknown): unknown {
  const copy = structuredClone(body) as any;
  let o = copy;
  for (const k of path.slice(0, -1)) o = o[k];
  o[path[path.length - 1]] = value;
  return copy;
}

async function send(method: string, url: string, payload?: string | Buffer, contentType = 'application/json'): Promise<Res> {
  const r = await srv.app.inject({
    method: method as never,
    url,
    payload,
    headers: { authorization: `Bearer ${url.includes('/admin/') ? srv.adminToken : team.apiKey}`, ...(payload !== undefined ? { 'content-type': contentType } : {}) },
  });
  let body: any = r.body;
  try {
    body = r.body ? JSON.parse(r.body) : null;
  } catch {
    /* not JSON */
  }
  return { status: r.statusCode, body, headers: r.headers };
}

/** Everything the team has stored, hashed per table, and its metric point count: a refused request must change none of it. */
async function fingerprint(): Promise<string> {
  const t = team.teamId;
  const rows = await srv.ctx.pg.db.execute(sql`select
    (select md5(coalesce(string_agg(x::text, '|' order by x::text), '')) from projects x where team_id = ${t}) as projects,
    (select md5(coalesce(string_agg(x::text, '|' order by x::text), '')) from experiments x where team_id = ${t}) as experiments,
    (select md5(coalesce(string_agg(x::text, '|' order by x::text), '')) from experiment_references x where team_id = ${t}) as refs,
    (select md5(coalesce(string_agg(x::text, '|' order by x::text), '')) from hypotheses x where team_id = ${t}) as hypotheses,
    (select md5(coalesce(string_agg(x::text, '|' order by x::text), '')) from project_metrics x where team_id = ${t}) as project_metrics,
    (select md5(coalesce(string_agg(x::text, '|' order by x::text), '')) from artifacts x where team_id = ${t}) as artifacts,
    (select md5(coalesce(string_agg(x::text, '|' order by x::text), '')) from team_members x where team_id = ${t}) as members,
    (select md5(coalesce(string_agg(x::text, '|' order by x::text), '')) from metric_batches x where team_id = ${t}) as batches,
    (select md5(coalesce(string_agg(concat(id, name, role, revoked_at), '|' order by id), '')) from api_keys where team_id = ${t}) as keys`);
  // FINAL: the deduplicated points, which a background merge of re-logged steps does not change
  // (count() over parts dropped whenever ClickHouse merged the base body's repeated step: a flake)
  const points = await unlimited.rows(
    { teamId: t },
    'test',
    'SELECT count(), sum(cityHash64(experiment_id, metric_name, step, host, timestamp, metric_value, logged_at)) FROM metrics FINAL WHERE team_id = {team_id:UUID}',
  );
  return JSON.stringify([(rows as any).rows?.[0] ?? (rows as any)[0], points]);
}

interface Outcome {
  route: string;
  where: string;
  status: number;
}
let failures: string[] = [];
const fail = (o: Outcome, why: string): void => void failures.push(`${o.route} | ${o.where} | ${o.status} | ${why.slice(0, 240)}`);

/** The rules for one answer. `field`: the body/query field that got the hostile value. */
function judge(o: Outcome & { field?: string | number; sent?: unknown }, r: Res): void {
  const detail = JSON.stringify(r.body)?.slice(0, 300) ?? '';
  const bad = (why: string) => fail(o, `${why}: ${detail}`);
  if (r.status >= 500) return bad('5xx');
  if (r.status >= 400) {
    const shaped = r.body && typeof r.body === 'object' && ('detail' in r.body || 'error_code' in r.body);
    if (!shaped) return bad('4xx without {detail}');
    if (r.status === 422 && o.field !== undefined && !o.route.includes('/mlflow') && !detail.includes(String(o.field))) return bad(`422 not naming ${o.field}`);
  } else if (o.field !== undefined && typeof o.sent === 'string' && r.body && typeof r.body[o.field] === 'string' && r.body[o.field] !== o.sent) {
    bad('2xx but not stored verbatim');
  }
}

beforeAll(async () => {
  // thousands of requests from one key: the rate limit (rate-limit.test.ts) would answer most of them
  srv = await startTestServer({ ASSAY_RATE_LIMIT_PER_MINUTE: '0', ASSAY_LOGIN_RATE_LIMIT_PER_MINUTE: '0' });
  team = await srv.newTeam('hostile');
  unlimited = new ClickHouseStore({ client: srv.ctx.ch.client, kind: srv.ctx.ch.kind }, { maxExecutionSeconds: 60, maxMemoryBytes: 1e9 });
  doc = (srv.app as any).swagger();
  const run = await seedRun(team.api, 'hp', 'base-run');
  await seedRun(team.api, 'hp', 'other-run');
  expect((await team.api.post(`/metrics/batch/${run.projectId}/${run.experimentId}`, { metrics: [{ metric_name: 'loss', metric_value: 1, step: 0 }] })).status).toBe(200);
  const hyp = await team.api.post(`/projects/${run.projectId}/hypotheses`, { key: 'hk', baseline_experiment: 'base-run', target_metrics: ['loss'] });
  const key = await team.api.post('/api-keys', { name: 'spare' });
  const art = await team.api.put(`/projects/${run.projectId}/experiments/${run.experimentId}/artifacts?path=a.bin`, Buffer.from('abc'), { 'content-type': 'application/octet-stream' });
  expect([hyp.status, key.status, art.status]).toEqual([201, 201, 201]);
  ids = {
    project_id: run.projectId, experiment_id: run.experimentId, metric_name: 'loss', hypothesis_id: hyp.body.id, key_id: key.body.id,
    user_id: team.userId, artifact_id: art.body.id, to_experiment: 'other-run', model_id: 'm-0', tag_key: 't',
  };
});
afterAll(() => srv?.close());

/** Mutations run last (a DELETE with valid ids would remove what later cases aim at). */
const order = (m: string) => ({ GET: 0, POST: 1, PUT: 1, PATCH: 1, DELETE: 2 })[m] ?? 1;

describe('hostile input on every route', () => {
  beforeEach(() => {
    failures = [];
  });

  it('the stored-state fingerprint does not move when ClickHouse merges a re-logged step', async () => {
    const url = `/metrics/batch/${ids.project_id}/${ids.experiment_id}`;
    for (let i = 0; i < 2; i++) expect((await team.api.post(url, { metrics: [{ metric_name: 'merge-probe', metric_value: 7, step: 3 }] })).status).toBe(200);
    const before = await fingerprint();
    await unlimited.adminCommand('OPTIMIZE TABLE metrics FINAL');
    expect(await fingerprint()).toBe(before);
  });

  it('every route with a JSON body has a base body', () => {
    const missing = srv.routes.filter((r) => operation(r.method, r.url)?.requestBody?.content?.['application/json'] && baseBody(r.method, r.url) === undefined);
    expect(missing.map((r) => `${r.method} ${r.url}`)).toEqual([]);
  });

  it('path parameters: hostile text and raw undecodable bytes are a 4xx, never a 5xx', async () => {
    for (const r of srv.routes) {
      for (const name of [...r.url.matchAll(/:(\w+)/g)].map((m) => m[1])) {
        for (const v of URL_VALUES) {
          const res = await send(r.method, withQuery(fill(r.url, { [name]: v }), r.url), r.method === 'GET' || r.method === 'DELETE' ? undefined : JSON.stringify(baseBody(r.method, r.url) ?? {}));
          judge({ route: `${r.method} ${r.url}`, where: `path :${name}=${v.slice(0, 40)}`, status: res.status }, res);
        }
      }
      if (r.url.endsWith('/*')) {
        for (const v of ['../../../etc/passwd', '..%2f..%2fetc%2fpasswd', '%252e%252e%252f', '%00', 'a/%ED%A0%80', 'C:%5Cx', '%2Fetc%2Fpasswd']) {
          const res = await send(r.method, r.url.replace('*', v), r.method === 'PUT' ? Buffer.from('x') : undefined, 'application/octet-stream');
          judge({ route: `${r.method} ${r.url}`, where: `wildcard ${v}`, status: res.status }, res);
        }
      }
    }
    expect(failures).toEqual([]);
  });

  it('query parameters: every declared one gets every hostile value', async () => {
    for (const r of [...srv.routes].sort((a, b) => order(a.method) - order(b.method))) {
      const params = (operation(r.method, r.url)?.parameters ?? []).filter((p: any) => p.in === 'query').map((p: any) => p.name as string);
      for (const name of params) {
        for (const v of URL_VALUES) {
          // a DELETE gets a path that names nothing, so an accepted value cannot remove the seeded objects
          const url = r.method === 'DELETE' ? fill(r.url, Object.fromEntries([...r.url.matchAll(/:(\w+)/g)].map((m) => [m[1], 'no-such-thing']))) : fill(r.url);
          const payload = r.method === 'GET' || r.method === 'DELETE' ? undefined : JSON.stringify(baseBody(r.method, r.url) ?? {});
          const rest = new URLSearchParams(Object.entries(baseQuery(r.url)).filter(([k]) => k !== name));
          const res = await send(r.method, `${url}?${rest}${rest.size ? '&' : ''}${encodeURIComponent(name)}=${v}`, payload);
          judge({ route: `${r.method} ${r.url}`, where: `query ${name}=${v.slice(0, 40)}`, status: res.status, field: name }, res);
        }
      }
    }
    expect(failures).toEqual([]);
  });

  it('body string fields: every hostile value in every field; a refused write changes nothing stored', async () => {
    for (const r of [...srv.routes].sort((a, b) => order(a.method) - order(b.method))) {
      const base = baseBody(r.method, r.url);
      if (base === undefined || r.method === 'DELETE') continue;
      // (re-made per request: members get a fresh email, so a stored name is the one just sent)
      const op = operation(r.method, r.url);
      // MLflow routes share one base body: only the fields the route declares
      const declared = Object.keys(op?.requestBody?.content?.['application/json']?.schema?.properties ?? {});
      const fields = [
        ...stringFields(base).filter((p) => !r.url.includes('/mlflow') || declared.includes(String(p[0]))),
        ...schemaStringProps(op).filter((k) => !(k in (base as object))).map((k) => [k]),
      ];
      for (const path of fields) {
        for (const v of [...HOSTILE_TEXT, HUGE]) {
          if (v === HUGE && path.length > 1) continue; // one 10 MB string per top-level field is enough
          const before = await fingerprint();
          const res = await send(r.method, withQuery(fill(r.url), r.url), JSON.stringify(withField(baseBody(r.method, r.url), path, v)));
          const field = path[path.length - 1];
          judge({ route: `${r.method} ${r.url}`, where: `body ${path.join('.')}=${JSON.stringify(v.slice(0, 30))}`, status: res.status, field: typeof field === 'number' ? path[path.length - 2] : field, sent: path.length === 1 ? v : undefined }, res);
          if (res.status >= 400 && !r.url.includes('/mlflow')) {
            const after = await fingerprint();
            if (after !== before) fail({ route: `${r.method} ${r.url}`, where: `body ${path.join('.')}`, status: res.status }, 'refused but stored state changed');
          }
        }
      }
    }
    expect(failures).toEqual([]);
  }, 600_000);
});

describe('hostile bodies, case by case', () => {
  const raw = (method: string, url: string, text: string | Buffer) => send(method, `/api/v1${url}`, text);
  const locs = (r: Res): string[] => (Array.isArray(r.body?.detail) ? [...new Set<string>(r.body.detail.map((d: any) => d.loc.join('.')))] : []);

  it('features nest at most 32 levels: deeper is a 422 at the too-deep place, nothing stored', async () => {
    const nest = (levels: number): unknown => (levels === 1 ? { leaf: 1 } : { a: nest(levels - 1) });
    const p = `/projects/${ids.project_id}/experiments`;
    const ok = await raw('POST', p, JSON.stringify({ name: 'deep-32', features: nest(32) }));
    expect(ok.status).toBe(201);
    expect(ok.body.features).toEqual(nest(32));
    const before = await fingerprint();
    const deep = await raw('POST', p, JSON.stringify({ name: 'deep-33', features: nest(33) }));
    expect(deep.status).toBe(422);
    expect(deep.body.detail).toEqual([{ loc: ['body', 'features', ...Array(32).fill('a')], msg: 'nested deeper than 32 levels', type: 'custom' }]);
    // 100,000 levels as raw text: no stack overflow anywhere, a 4xx naming the field
    const bomb = `{"name":"bomb","features":{"x":${'['.repeat(100_000)}${']'.repeat(100_000)}}}`;
    const r = await raw('POST', p, bomb);
    expect([r.status, locs(r)[0]?.startsWith('body.features.x')]).toEqual([422, true]);
    const patch = await raw('PATCH', `${p}/${ids.experiment_id}`, JSON.stringify({ features: nest(40) }));
    expect([patch.status, locs(patch)[0]?.startsWith('body.features')]).toEqual([422, true]);
    expect(await fingerprint()).toBe(before);
  });

  it('duplicate JSON keys: the last one wins (JSON.parse semantics, documented)', async () => {
    const r = await raw('POST', '/projects', '{"name":"dup-first","description":"x","name":"dup-last"}');
    expect([r.status, r.body.name]).toEqual([201, 'dup-last']);
  });

  it('bytes that are not UTF-8 in a JSON body never give a 5xx (decoded as U+FFFD, the JSON parser\'s behaviour)', async () => {
    for (const bad of [Buffer.from([0xff, 0xfe]), Buffer.from([0xed, 0xa0, 0x80]), Buffer.from([0xc0, 0xaf]), Buffer.from([0xe2, 0x82])]) {
      const body = Buffer.concat([Buffer.from(`{"name":"utf8-${bad.toString('hex')}-`), bad, Buffer.from('"}')]);
      const r = await raw('POST', '/projects', body);
      expect(r.status, bad.toString('hex')).toBe(201);
      expect(r.body.name).toMatch(new RegExp(`^utf8-${bad.toString('hex')}-\uFFFD+$`));
    }
  });

  it('steps that are NaN, negative, fractional, too big, infinite or strings are a 422 naming the step; no point stored', async () => {
    const before = await fingerprint();
    const e = `${ids.project_id}/${ids.experiment_id}`;
    for (const step of ['"NaN"', '-1', '1.5', '9007199254740992', '1e999', '"1"', 'null', '[1]']) {
      const one = await raw('POST', `/metrics/log/${e}`, `{"metric_name":"loss","metric_value":1,"step":${step}}`);
      expect([one.status, locs(one)], `log step ${step}`).toEqual([422, ['body.step']]);
      // a batch with one bad step among good ones is refused whole
      const batch = await raw('POST', `/metrics/batch/${e}`, `{"metrics":[{"metric_name":"loss","metric_value":1,"step":7},{"metric_name":"loss","metric_value":1,"step":${step}}]}`);
      expect([batch.status, locs(batch)], `batch step ${step}`).toEqual([422, ['body.metrics.1.step']]);
      const series = await raw('POST', `/metrics/batch/${e}`, `{"series":[{"metric_name":"loss","steps":[8, ${step}],"values":[1,2]}]}`);
      expect([series.status, locs(series)], `series step ${step}`).toEqual([422, ['body.series.0.steps.1']]);
    }
    for (const q of ['step_min=-1', 'step_min=1.5', 'step_max=NaN', 'step_max=1e999', 'limit=0', 'limit=1.5']) {
      const r = await team.api.get(`/metrics/timeseries/${e}/loss?${q}`);
      expect([r.status, locs(r)], q).toEqual([422, [`query.${q.split('=')[0]}`]]);
    }
    expect(await fingerprint()).toBe(before);
  });

  it('artifact paths: traversal, absolute, backslash and NUL are a 422 naming path; double-encoded text is stored verbatim', async () => {
    const url = `/projects/${ids.project_id}/experiments/${ids.experiment_id}/artifacts`;
    const put = (q: string) => send('PUT', `/api/v1${url}?path=${q}`, Buffer.from('x'), 'application/octet-stream');
    const before = await fingerprint();
    for (const q of ['..%2Fx', '..', 'a%2F..%2F..%2Fx', '%2e%2e%2fx', '..%5Cx', 'a%5Cb', '%2Fetc%2Fpasswd', 'C%3A%5Cx', 'C%3Ax', 'a%00b', 'a%2F%2Fb', 'a%2F.%2Fb', '']) {
      const r = await put(q);
      expect([r.status, locs(r)[0]], q).toEqual([422, 'query.path']);
    }
    expect(await fingerprint()).toBe(before);
    const stored = await put('%252e%252e%252fx');
    expect([stored.status, stored.body.path]).toEqual([201, '%2e%2e%2fx']);
    const listed = await team.api.get(url);
    expect(listed.body.items.map((a: any) => a.path)).toContain('%2e%2e%2fx');
  });
});
