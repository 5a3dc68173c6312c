/**
 * A tiny in-process stand-in for the Assay API (only what the SDK calls), used by unit tests of the
 * sender's retry / spool logic. It can fail on purpose, go down and come back on the same port.
 * Integration tests use the real server (live-server.ts).
 */
import http from 'node:http';
import { randomUUID } from 'node:crypto';
import { gunzipSync } from 'node:zlib';
import type { AddressInfo } from 'node:net';

export interface FakePoint {
  metric_name: string;
  metric_value: unknown;
  step: number;
  timestamp?: unknown;
  host?: string;
}

type Hook = (req: http.IncomingMessage, body: Buffer) => { status: number; headers?: Record<string, string>; body?: unknown } | undefined;

export class FakeServer {
  server: http.Server | null = null;
  port = 0;
  readonly apiKey = 'test-key';
  projects = new Map<string, { id: string; name: string }>();
  experiments = new Map<string, { id: string; project_id: string; name: string; status: string; features: Record<string, unknown>; git: unknown }>();
  batches = new Set<string>();
  points: FakePoint[] = [];
  requests: Array<{ method: string; url: string; gzip: boolean; batch_id?: string; n?: number }> = [];
  artifacts: Array<{ path: string; size: number; sha256: string; id: string }> = [];
  /** Return a response to short-circuit a request (fault injection). */
  hook: Hook | null = null;
  /** Artificial latency before answering (ms). */
  latencyMs: number | (() => number) = 0;
  maxBodyBytes = Infinity;
  /** Highest number of batch requests handled concurrently. */
  maxConcurrent = 0;
  private concurrent = 0;

  get url() {
    return `http://127.0.0.1:${this.port}`;
  }

  async start(port = 0): Promise<void> {
    this.server = http.createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((resolve, reject) => {
      this.server!.once('error', reject);
      this.server!.listen(port, '127.0.0.1', () => resolve());
    });
    this.port = (this.server.address() as AddressInfo).port;
  }

  /** Stop abruptly (drop open connections), keeping state — like a crashed server. */
  async stop(): Promise<void> {
    const s = this.server;
    this.server = null;
    if (!s) return;
    s.closeAllConnections();
    await new Promise<void>((r) => s.close(() => r()));
  }

  pointsOf(metric: string) {
    return this.points.filter((p) => p.metric_name === metric);
  }

  private send(res: http.ServerResponse, status: number, body?: unknown, headers: Record<string, string> = {}) {
    res.writeHead(status, { 'content-type': 'application/json', ...headers });
    res.end(body === undefined ? '' : JSON.stringify(body));
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse) {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = Buffer.concat(chunks);
    const isBatch = req.url!.includes('/metrics/batch/');
    if (isBatch) this.maxConcurrent = Math.max(this.maxConcurrent, ++this.concurrent);
    try {
      await this.handleBody(req, res, body);
    } finally {
      if (isBatch) this.concurrent--;
    }
  }

  private async handleBody(req: http.IncomingMessage, res: http.ServerResponse, body: Buffer) {
    const gz = req.headers['content-encoding'] === 'gzip';
    const lat = typeof this.latencyMs === 'function' ? this.latencyMs() : this.latencyMs;
    if (lat) await new Promise((r) => setTimeout(r, lat));
    if (!this.server) return req.socket.destroy();
    if (body.length > this.maxBodyBytes) return this.send(res, 413, { detail: 'too large' });
    if (gz) body = gunzipSync(body);
    const url = new URL(req.url!, 'http://x');
    const rec: FakeServer['requests'][number] = { method: req.method!, url: url.pathname, gzip: gz };
    this.requests.push(rec);
    if (url.pathname.includes('/metrics/batch/')) {
      try {
        const j = JSON.parse(body.toString('utf8'));
        rec.batch_id = j.batch_id;
        rec.n = j.metrics?.length;
      } catch {
        /* not JSON */
      }
    }
    const h = this.hook?.(req, body);
    if (h) return this.send(res, h.status, h.body, h.headers);
    if (req.headers.authorization !== `Bearer ${this.apiKey}`) return this.send(res, 401, { detail: 'bad key' });
    const json = body.length && req.headers['content-type']?.includes('json') ? JSON.parse(body.toString('utf8')) : undefined;
    const parts = url.pathname.replace(/^\/api\/v1\//, '').split('/').map(decodeURIComponent);
    const findP = (k: string) => [...this.projects.values()].find((p) => p.id === k || p.name === k);
    const findE = (pid: string, k: string) => [...this.experiments.values()].find((e) => e.project_id === pid && (e.id === k || e.name === k));
    if (parts[0] === 'me') return this.send(res, 200, { team_id: 't-1', team_name: 'team-123', user_id: 'u', email: 'e', role: 'admin', key_id: 'k' });
    if (parts[0] === 'projects' && parts.length === 1 && req.method === 'POST') {
      let p = findP(json.name);
      if (p) return this.send(res, url.searchParams.get('if_exists') === 'return' ? 200 : 409, p);
      p = { id: randomUUID(), name: json.name };
      this.projects.set(p.id, p);
      return this.send(res, 201, p);
    }
    if (parts[0] === 'projects') {
      const p = findP(parts[1]);
      if (!p) return this.send(res, 404, { detail: 'project not found' });
      if (parts.length === 3 && req.method === 'POST') {
        let e = findE(p.id, json.name);
        if (e) return this.send(res, 200, e);
        e = { id: randomUUID(), project_id: p.id, name: json.name, status: 'running', features: json.features ?? {}, git: null };
        this.experiments.set(e.id, e);
        return this.send(res, 201, e);
      }
      const e = findE(p.id, parts[3]);
      if (!e) return this.send(res, 404, { detail: 'experiment not found' });
      if (parts.length === 4 && req.method === 'GET') return this.send(res, 200, e);
      if (parts.length === 4 && req.method === 'PATCH') {
        if (json.status) e.status = json.status;
        if (json.features) e.features = { ...e.features, ...json.features };
        return this.send(res, 200, e);
      }
      if (parts[4] === 'heartbeat') return this.send(res, 200, { status: e.status, heartbeat_at: new Date().toISOString() });
      if (parts[4] === 'code') {
        e.git = json;
        return this.send(res, 200, e);
      }
      if (parts[4] === 'artifacts' && req.method === 'GET') return this.send(res, 200, { items: this.artifacts });
      if (parts[4] === 'artifacts' && req.method === 'PUT') {
        const path = url.searchParams.get('path')!;
        const { createHash } = await import('node:crypto');
        const sha256 = createHash('sha256').update(body).digest('hex');
        const a = { id: randomUUID(), path, size: body.length, sha256 };
        this.artifacts.push(a);
        return this.send(res, 201, a);
      }
      return this.send(res, 404, { detail: 'no route' });
    }
    if (parts[0] === 'metrics' && parts[1] === 'batch') {
      if (json.batch_id && this.batches.has(json.batch_id)) return this.send(res, 200, { status: 'success', count: json.metrics.length, duplicate: true });
      if (json.batch_id) this.batches.add(json.batch_id);
      this.points.push(...json.metrics);
      return this.send(res, 200, { status: 'success', count: json.metrics.length, duplicate: false });
    }
    return this.send(res, 404, { detail: 'no route' });
  }
}
