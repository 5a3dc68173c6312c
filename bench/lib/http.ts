import http from 'node:http';
import { nowMs } from './stats.ts';

export interface Resp {
  status: number;
  headers: http.IncomingHttpHeaders;
  text: string;
  ms: number; // client-side round trip, request start → last body byte
}

/** Minimal keep-alive JSON client over node:http (loopback, no proxies, no retries here). */
export class Api {
  readonly agent: http.Agent;
  constructor(
    readonly base: string,
    private apiKey: string,
    maxSockets = 16,
  ) {
    this.agent = new http.Agent({ keepAlive: true, maxSockets, maxFreeSockets: maxSockets });
  }

  raw(method: string, path: string, body?: Buffer | string, headers: Record<string, string> = {}): Promise<Resp> {
    const url = new URL(path, this.base);
    const payload = body === undefined ? undefined : typeof body === 'string' ? Buffer.from(body) : body;
    const h: Record<string, string | number> = { authorization: `Bearer ${this.apiKey}`, ...headers };
    if (payload) {
      h['content-type'] ??= 'application/json';
      h['content-length'] = payload.length;
    }
    return new Promise((resolve, reject) => {
      const t0 = nowMs();
      const req = http.request(
        { method, hostname: url.hostname, port: url.port, path: url.pathname + url.search, headers: h, agent: this.agent },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () =>
            resolve({ status: res.statusCode ?? 0, headers: res.headers, text: Buffer.concat(chunks).toString('utf8'), ms: nowMs() - t0 }),
          );
          res.on('error', reject);
        },
      );
      req.on('error', reject);
      req.end(payload);
    });
  }

  /** JSON call that throws on a non-2xx answer. */
  async json<T = any>(method: string, path: string, body?: unknown): Promise<T> {
    const r = await this.raw(method, path, body === undefined ? undefined : JSON.stringify(body));
    if (r.status < 200 || r.status >= 300) throw new HttpError(method, path, r);
    return (r.text ? JSON.parse(r.text) : undefined) as T;
  }

  close(): void {
    this.agent.destroy();
  }
}

export class HttpError extends Error {
  constructor(
    method: string,
    path: string,
    readonly resp: Resp,
  ) {
    super(`${method} ${path} → ${resp.status}: ${resp.text.slice(0, 300)}`);
  }
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Sends one batch body, honouring 429/503 + Retry-After until acked. Returns retries used. */
export async function sendBatch(api: Api, path: string, body: Buffer, headers: Record<string, string> = {}): Promise<{ retries: number; resp: Resp }> {
  let retries = 0;
  for (;;) {
    let r: Resp;
    try {
      r = await api.raw('POST', path, body, headers);
    } catch (e) {
      if (++retries > 20) throw e;
      await sleep(200);
      continue;
    }
    if (r.status === 429 || r.status === 503) {
      if (++retries > 1000) throw new HttpError('POST', path, r);
      const after = Number(r.headers['retry-after'] ?? '1');
      await sleep(Math.min(5000, Math.max(20, (Number.isFinite(after) ? after : 1) * 1000)));
      continue;
    }
    if (r.status < 200 || r.status >= 300) throw new HttpError('POST', path, r);
    return { retries, resp: r };
  }
}

/**
 * Timed repetitions of one GET/POST (after `warmup` untimed calls): client round trips, and the
 * server's own time when it sends `Server-Timing: …;dur=<ms>` (or `X-Response-Time: <ms>`).
 */
export async function timeCalls(reps: number, warmup: number, call: () => Promise<Resp>): Promise<number[] & { server: number[] }> {
  for (let i = 0; i < warmup; i++) check(await call());
  const out = Object.assign([] as number[], { server: [] as number[] });
  for (let i = 0; i < reps; i++) {
    const r = await call();
    check(r);
    out.push(r.ms);
    const st = serverMs(r);
    if (st !== undefined) out.server.push(st);
  }
  return out;
}

function serverMs(r: Resp): number | undefined {
  const one = (h: string | string[] | undefined) => (Array.isArray(h) ? h.join(',') : h);
  const st = one(r.headers['server-timing']);
  const m = st ? /dur=([\d.]+)/.exec(st) : /^\s*([\d.]+)/.exec(one(r.headers['x-response-time']) ?? '');
  return m ? Number(m[1]) : undefined;
}

function check(r: Resp): void {
  if (r.status < 200 || r.status >= 300) throw new Error(`query failed ${r.status}: ${r.text.slice(0, 300)}`);
}
