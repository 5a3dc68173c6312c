/**
 * Fault injection in front of a real server, for what the server itself cannot do on cue: answer
 * 5xx/429/413, be slow, drop connections, be down, or accept a connection and never answer. It
 * forwards everything else byte for byte and has no API logic of its own (no dedup, no merge):
 * what the tests read back comes from the real server. `hungServer()` is a bare TCP server that
 * accepts and never answers.
 */
import http from 'node:http';
import net from 'node:net';
import { gunzipSync } from 'node:zlib';

export type Fault =
  | 'forward'
  /** Destroy the connection without an answer. */
  | 'drop'
  /** Keep the connection open and never answer. */
  | 'hang'
  | { status: number; headers?: Record<string, string>; body?: unknown }
  | { delayMs: number };

export interface SeenRequest {
  method: string;
  path: string;
  gzip: boolean;
  bytes: number;
  batch_id?: string;
  points?: number;
}

export type Rule = (req: SeenRequest) => Fault | undefined;

export class FaultProxy {
  /** Decides each request's fate (default: forward). */
  rule: Rule | null = null;
  /** When set, every connection is refused/reset (the server looks down). */
  down = false;
  readonly seen: SeenRequest[] = [];
  /** Highest number of batch requests in flight at once. */
  maxConcurrentBatches = 0;
  private concurrent = 0;
  private server: http.Server | null = null;
  private readonly sockets = new Set<net.Socket>();
  port = 0;

  constructor(private readonly target: string) {}

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  batches(): SeenRequest[] {
    return this.seen.filter((r) => r.batch_id !== undefined);
  }

  async start(): Promise<this> {
    const server = http.createServer((req, res) => void this.handle(req, res));
    server.on('connection', (s) => {
      if (this.down) return s.destroy();
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    this.server = server;
    this.port = (server.address() as net.AddressInfo).port;
    return this;
  }

  /** Cut every open connection (a crash seen from the client). */
  dropAll(): void {
    for (const s of this.sockets) s.destroy();
  }

  async close(): Promise<void> {
    this.dropAll();
    const s = this.server;
    this.server = null;
    if (s) await new Promise<void>((r) => s.close(() => r()));
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const raw = Buffer.concat(chunks);
    const gzip = req.headers['content-encoding'] === 'gzip';
    const seen: SeenRequest = { method: req.method!, path: req.url!, gzip, bytes: raw.length };
    if (req.url!.includes('/metrics/batch/')) {
      try {
        const j = JSON.parse((gzip ? gunzipSync(raw) : raw).toString('utf8')) as { batch_id?: string; metrics?: unknown[] };
        seen.batch_id = j.batch_id;
        seen.points = j.metrics?.length;
      } catch {
        /* not JSON: forwarded as is */
      }
    }
    this.seen.push(seen);
    const isBatch = seen.batch_id !== undefined;
    if (isBatch) this.maxConcurrentBatches = Math.max(this.maxConcurrentBatches, ++this.concurrent);
    try {
      let fault: Fault = this.down ? 'drop' : (this.rule?.(seen) ?? 'forward');
      if (typeof fault === 'object' && 'delayMs' in fault) {
        const ms = fault.delayMs;
        await new Promise((r) => setTimeout(r, ms));
        fault = this.down ? 'drop' : 'forward';
      }
      if (fault === 'drop') return void req.socket.destroy();
      if (fault === 'hang') return; // the socket stays open until close()/dropAll()
      if (typeof fault === 'object' && 'status' in fault) {
        res.writeHead(fault.status, { 'content-type': 'application/json', ...fault.headers });
        return void res.end(JSON.stringify(fault.body ?? { detail: `injected ${fault.status}` }));
      }
      await this.forward(req, raw, res);
    } finally {
      if (isBatch) this.concurrent--;
    }
  }

  private forward(req: http.IncomingMessage, body: Buffer, res: http.ServerResponse): Promise<void> {
    const t = new URL(this.target);
    return new Promise((resolve) => {
      const headers = { ...req.headers, host: t.host, 'content-length': String(body.length) };
      delete headers['transfer-encoding'];
      const up = http.request({ host: t.hostname, port: t.port, method: req.method, path: req.url, headers }, (ur) => {
        res.writeHead(ur.statusCode ?? 502, ur.headers);
        ur.pipe(res);
        ur.on('end', resolve);
      });
      up.on('error', () => {
        req.socket.destroy();
        resolve();
      });
      up.end(body);
    });
  }
}

/** A TCP server that accepts connections and never answers (a hung server). */
export async function hungServer(): Promise<{ url: string; connections: () => number; close: () => Promise<void> }> {
  const sockets = new Set<net.Socket>();
  let count = 0;
  const server = net.createServer((s) => {
    count++;
    sockets.add(s);
    s.on('error', () => {});
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    connections: () => count,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
