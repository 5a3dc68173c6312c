import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll } from 'vitest';
import { buildApp } from '../src/app.ts';
import { loadConfig, type Config } from '../src/config.ts';
import type { AppContext } from '../src/context.ts';
import { createTeam } from '../src/services/teams.ts';
import { closeStores, openStores } from '../src/stores.ts';

/**
 * One real server per test file: real PGlite (or the PostgreSQL in DATABASE_URL) and real chDB in a
 * temp data dir. chDB binds one data dir per process, so a file opens the stores once; tests
 * isolate from each other by team.
 */
export interface TestServer {
  app: FastifyInstance;
  ctx: AppContext;
  config: Config;
  routes: { method: string; url: string }[];
  adminToken: string;
  dataDir: string;
  newTeam(prefix?: string): Promise<TestTeam>;
  close(): Promise<void>;
}

export interface TestTeam {
  teamId: string;
  userId: string;
  apiKey: string;
  name: string;
  api: ApiClient;
}

export async function startTestServer(env: Record<string, string> = {}): Promise<TestServer> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'assay-test-'));
  const config = loadConfig({ ASSAY_DATA_DIR: dataDir, LOG_LEVEL: 'silent', ...env });
  const ctx = await openStores(config, () => undefined);
  const { app, routes, adminToken } = await buildApp(ctx);
  return {
    app,
    ctx,
    config,
    routes,
    adminToken,
    dataDir,
    async newTeam(prefix = 'team') {
      const name = `${prefix}-${randomUUID().slice(0, 8)}`;
      const t = await createTeam(ctx.pg.db, name);
      return { teamId: t.team_id, userId: t.user_id, apiKey: t.api_key, name, api: apiClient(app, t.api_key) };
    },
    async close() {
      await app.close();
      await closeStores(ctx);
      fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** This file's server and one team in it: started before the file's tests, closed after them. */
/**
 * A test server listening on a loopback port, for clients that speak HTTP (the importers, child
 * processes), and a fresh temp dir when `tmpPrefix` is given ('' otherwise).
 */
export async function startListeningServer(tmpPrefix?: string): Promise<{ srv: TestServer; url: string; tmp: string }> {
  const srv = await startTestServer();
  await srv.app.listen({ port: 0, host: '127.0.0.1' });
  const url = `http://127.0.0.1:${(srv.app.server.address() as { port: number }).port}`;
  return { srv, url, tmp: tmpPrefix ? fs.mkdtempSync(path.join(os.tmpdir(), tmpPrefix)) : '' };
}

export async function stopListeningServer(s: { srv?: TestServer; tmp?: string }): Promise<void> {
  await s.srv?.close();
  if (s.tmp) fs.rmSync(s.tmp, { recursive: true, force: true });
}

export function useTestServer(teamPrefix: string, env: Record<string, string> = {}): { srv: TestServer; team: TestTeam } {
  const t = {} as { srv: TestServer; team: TestTeam };
  beforeAll(async () => {
    t.srv = await startTestServer(env);
    t.team = await t.srv.newTeam(teamPrefix);
  });
  afterAll(() => t.srv?.close());
  return t;
}

export interface Res<T = any> {
  status: number;
  body: T;
  headers: Record<string, unknown>;
}

export type ApiClient = ReturnType<typeof apiClient>;

/** Thin app.inject() client: paths are relative to /api/v1. */
export function apiClient(app: FastifyInstance, apiKey: string | undefined) {
  const call = async (method: string, url: string, payload?: unknown, headers: Record<string, string> = {}): Promise<Res> => {
    const r = await app.inject({
      method: method as never,
      url: url.startsWith('/') && !url.startsWith('/api/') ? `/api/v1${url}` : url,
      payload: payload as never,
      headers: { ...(apiKey ? { authorization: `Bearer ${apiKey}` } : {}), ...headers },
    });
    let body: unknown = r.body;
    try {
      body = r.body ? JSON.parse(r.body) : null;
    } catch {
      /* not JSON */
    }
    return { status: r.statusCode, body: body as any, headers: r.headers };
  };
  return {
    call,
    get: (url: string) => call('GET', url),
    post: (url: string, body?: unknown, headers?: Record<string, string>) => call('POST', url, body ?? {}, headers),
    patch: (url: string, body: unknown) => call('PATCH', url, body),
    put: (url: string, body: unknown, headers?: Record<string, string>) => call('PUT', url, body, headers),
    delete: (url: string) => call('DELETE', url),
  };
}

/** A project + experiment ready for metrics. */
export async function seedRun(api: ApiClient, project = 'proj', experiment = 'run') {
  const p = await api.post('/projects?if_exists=return', { name: project });
  const e = await api.post(`/projects/${p.body.id}/experiments?if_exists=return`, { name: experiment });
  return { projectId: p.body.id as string, experimentId: e.body.id as string };
}
