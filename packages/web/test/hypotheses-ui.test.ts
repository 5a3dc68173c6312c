/**
 * Hypotheses in real Chromium: the list shows a not-yet-evaluated hypothesis as Pending; the
 * detail's "Evaluate now" judges it and shows the status badge, arms, per-metric evidence and the
 * history; a viewer cannot evaluate (the button is disabled).
 */
import { describe, expect, it } from 'vitest';
import { screenshot, useSignedInBrowser } from './browser.ts';
import { seedProject, type SeedRun } from './pages-helpers.ts';

let projectId: string;

const arm = (prefix: string, lr: number, losses: number[]): SeedRun[] =>
  losses.map((l, i) => ({ name: `${prefix}-s${i + 1}`, features: { lr, seed: i + 1 }, status: 'complete', metrics: { 'val/loss': [1, 0.8, l] } }));

const ui = useSignedInBrowser(async ({ server }) => {
  ({ projectId } = await seedProject(server, 'hyp-lab', [...arm('base', 0.001, [0.5, 0.51, 0.49, 0.5]), ...arm('cand', 0.01, [0.3, 0.31, 0.29, 0.3])]));
  await server.api('POST', `/projects/${projectId}/hypotheses`, {
    key: 'h-higher-lr',
    statement: 'A 10× higher learning rate lowers the validation loss',
    baseline_experiment: 'base-s1',
    candidate_experiments: ['cand-s1', 'cand-s2', 'cand-s3', 'cand-s4'],
    target_metrics: ['val/loss'],
  });
});

describe('hypotheses pages', () => {
  it('lists the hypothesis as Pending before its first evaluation', async () => {
    const page = await ui.context.newPage();
    await page.goto(`/p/${projectId}/hypotheses`);
    await page.waitForSelector('[data-testid=hypothesis-row]');
    expect(await page.$$eval('[data-testid=hypothesis-row] a', (a) => a.map((x) => x.textContent))).toEqual(['h-higher-lr']);
    expect(await page.getAttribute('[data-testid=hypothesis-row] [data-testid=status-badge]', 'data-status')).toBe('Pending');
    await page.close();
  });

  it('"Evaluate now" judges it: status badge, arms, evidence and history as the API has them', async () => {
    const page = await ui.context.newPage();
    await page.goto(`/p/${projectId}/hypotheses/h-higher-lr`);
    await page.waitForSelector('[data-testid=evaluate-button]');
    expect(await page.textContent('.statement')).toBe('A 10× higher learning rate lowers the validation loss');
    await page.click('[data-testid=evaluate-button]');
    await page.waitForSelector('[data-testid=evidence-row]');
    const api = await ui.server.api<{ status: string; latest_evaluation: { metrics: { delta: number; n_baseline: number; n_candidate: number; method: string }[] } }>(
      'GET',
      `/projects/${projectId}/hypotheses/h-higher-lr`,
    );
    expect(api.status).toBe('Supported');
    expect(await page.getAttribute('.page-head [data-testid=status-badge]', 'data-status')).toBe('Supported');
    const m = api.latest_evaluation.metrics[0];
    const cells = await page.$$eval('[data-testid=evidence-row] td', (td) => td.map((x) => x.textContent?.trim()));
    expect(cells[0]).toBe('val/loss ↓last');
    expect(cells[4]).toBe(String(Number(m.delta.toPrecision(5))));
    expect(cells[6]).toBe(`${m.n_baseline} / ${m.n_candidate}`);
    expect(cells[7]).toBe(m.method);
    expect(await page.$$eval('[data-testid=arm-candidate] a', (a) => a.map((x) => x.textContent))).toEqual(['cand-s1', 'cand-s2', 'cand-s3', 'cand-s4']);
    expect(await page.$$eval('[data-testid=evaluation-row]', (r) => r.length)).toBe(1);
    await screenshot(page, 'hypothesis');
    // a second evaluation lands in the history
    await page.click('[data-testid=evaluate-button]');
    await page.waitForFunction(() => document.querySelectorAll('[data-testid=evaluation-row]').length === 2);
    await page.goto(`/p/${projectId}/hypotheses`);
    await page.waitForSelector('[data-testid=hypothesis-row] [data-status=Supported]');
    await page.close();
  });

  it('a viewer sees the verdict but cannot evaluate', async () => {
    const key = await ui.server.api<{ api_key: string }>('POST', '/api-keys', { name: 'viewer-key', role: 'viewer' });
    // a viewer key behind the page's requests: the session route answers with role viewer
    const ctx = await ui.browser.newContext({ baseURL: ui.server.url, extraHTTPHeaders: { Authorization: `Bearer ${key.api_key}` } });
    const page = await ctx.newPage();
    await page.goto(`/p/${projectId}/hypotheses/h-higher-lr`);
    await page.waitForSelector('[data-testid=evaluate-button]');
    expect(await page.isDisabled('[data-testid=evaluate-button]')).toBe(true);
    expect(await page.getAttribute('.page-head [data-testid=status-badge]', 'data-status')).toBe('Supported');
    await ctx.close();
  });
});
