/** Seeding and sign-in steps shared by the shell/table/admin/hypotheses browser tests. */
import type { Page } from 'playwright-core';
import type { LiveServer } from './browser.ts';

export interface SeedRun {
  name: string;
  features?: Record<string, unknown>;
  tags?: string[];
  host?: string;
  /** running = with a fresh heartbeat; left out = as created (running, no heartbeat) */
  status?: 'running' | 'complete' | 'failed' | 'crashed';
  /** metric name → values at steps 0, 1, 2, … */
  metrics?: Record<string, (number | string)[]>;
}

/** Bearer calls with any key (the server's own `api` uses the team admin's). */
export async function call<T = unknown>(server: LiveServer, key: string, method: string, p: string, body?: unknown): Promise<{ status: number; body: T }> {
  const r = await fetch(`${server.url}/api/v1${p}`, {
    method,
    headers: { Authorization: `Bearer ${key}`, ...(body !== undefined ? { 'Content-Type': 'application/json' } : {}) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await r.text();
  return { status: r.status, body: (text ? JSON.parse(text) : undefined) as T };
}

/** Runs with features, tags and metric points, through the public API; returns name → id. */
export async function seedProject(server: LiveServer, project: string, runs: SeedRun[], concurrency = 8): Promise<{ projectId: string; ids: Map<string, string> }> {
  const p = await server.api<{ id: string }>('POST', '/projects?if_exists=return', { name: project });
  const ids = new Map<string, string>();
  let next = 0;
  const worker = async () => {
    while (next < runs.length) {
      const r = runs[next++];
      const e = await server.api<{ id: string }>('POST', `/projects/${p.id}/experiments`, {
        name: r.name,
        features: r.features ?? {},
        tags: r.tags ?? [],
        ...(r.host ? { host: r.host } : {}),
      });
      ids.set(r.name, e.id);
      const series = Object.entries(r.metrics ?? {}).map(([metric_name, values]) => ({ metric_name, steps: values.map((_, i) => i), values }));
      if (series.length) await server.api('POST', `/metrics/batch/${p.id}/${e.id}`, { series });
      if (r.status === 'running') await server.api('POST', `/projects/${p.id}/experiments/${e.id}/heartbeat`);
      else if (r.status) await server.api('PATCH', `/projects/${p.id}/experiments/${e.id}`, { status: r.status });
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return { projectId: p.id, ids };
}

export async function signInThroughForm(page: Page, who: { email: string; password: string }): Promise<void> {
  await page.fill('input[name=email]', who.email);
  await page.fill('input[name=password]', who.password);
  await page.click('button[type=submit]');
}

/** The token of an invite or sign-in link (its host is the server's public URL, not the test's). */
export function tokenOf(link: string): string {
  const t = new URL(link).searchParams.get('token');
  if (!t) throw new Error(`no token in ${link}`);
  return t;
}
