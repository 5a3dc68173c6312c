/**
 * Compare in real Chromium: two runs overlaid per metric from one series request, both lines drawn
 * in their colours with both names in the legend; the metric table's deltas against the baseline;
 * the feature diff lists only differing keys; group by a feature draws one mean ± sd per group.
 */
import { describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { PALETTE } from '../src/charts/build.ts';
import { canvasPainted, screenshot, useSignedInBrowser } from './browser.ts';
import { chartSel, colourPixels, recordSeries } from './chart-helpers.ts';
import { seedProject } from './pages-helpers.ts';

const STEPS = 2000;
const loss = (lr: number, seed: number) => Array.from({ length: STEPS }, (_, s) => 1 / (1 + s / 100) + (lr === 0.1 ? 0.1 : 0) + seed * 0.01);
const acc = (lr: number) => Array.from({ length: STEPS }, (_, s) => (lr === 0.1 ? 0.5 : 0.4) + s / 10_000);

let projectId: string;
let ids: Map<string, string>;

const ui = useSignedInBrowser(async ({ server }) => {
  const runs = [
    ['a1', 0.1, 1],
    ['a2', 0.1, 2],
    ['b1', 0.01, 1],
    ['b2', 0.01, 2],
  ] as const;
  ({ projectId, ids } = await seedProject(
    server,
    'compare',
    runs.map(([name, lr, seed]) => ({ name, status: 'complete' as const, features: { optim: { lr }, seed }, metrics: { loss: loss(lr, seed), acc: acc(lr) } })),
  ));
});

const legend = (page: import('playwright-core').Page, metric: string) => page.$$eval(`${chartSel(metric)} [data-testid=legend-item] b`, (bs) => bs.map((b) => b.textContent));

describe('compare', () => {
  it('a shared link renders the page itself first: no Suspense or session fallback on the way', async () => {
    // A lazy page suspends once even with its chunk loaded, and React holds a Suspense reveal back
    // ~300 ms: the page's first requests left that much later. main.tsx renders once the session
    // and the page's chunk are in, so the only loading states are the page's own, named ones.
    const page = await ui.context.newPage();
    await page.addInitScript(() => {
      const seen: string[] = ((window as unknown as { __loading: string[] }).__loading = []);
      new MutationObserver(() => {
        for (const el of document.querySelectorAll('.state-loading')) if (!seen.includes(el.textContent ?? '')) seen.push(el.textContent ?? '');
      }).observe(document, { childList: true, subtree: true, characterData: true });
    });
    await page.goto(`/p/${projectId}/compare?runs=${ids.get('a1')},${ids.get('b1')}`);
    await page.waitForSelector(`${chartSel('loss')}[data-mode=buckets]`);
    const seen = await page.evaluate(() => (window as unknown as { __loading: string[] }).__loading);
    expect(seen).not.toContain('Loading…');
    await page.close();
  });

  it('overlays two runs per metric from one series request', async () => {
    const page = await ui.context.newPage();
    const requests = recordSeries(page);
    // the compared runs come in one request, not one GET per run
    const runRequests: string[] = [];
    page.on('request', (r) => {
      const u = new URL(r.url());
      if (u.pathname.startsWith(`/api/v1/projects/${projectId}/experiments`)) runRequests.push(u.pathname + u.search);
    });
    // The charts' request leaves without waiting for the metric names: a compare read (the page
    // needs none for finished runs' charts) is held back until the series request has left
    // (before, the series waited for compare's names and this timed out).
    let seriesSent!: () => void;
    const sent = new Promise<void>((r) => (seriesSent = r));
    page.on('request', (r) => {
      if (new URL(r.url()).pathname === '/api/v1/metrics/series') seriesSent();
    });
    let heldInVain = false;
    let compares = 0;
    await page.route('**/api/v1/metrics/compare?*', async (route) => {
      compares++;
      const timeout = new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), 15_000));
      if ((await Promise.race([sent.then(() => 'sent' as const), timeout])) === 'timeout') heldInVain = true;
      await route.continue();
    });
    const a = ids.get('a1')!;
    const b = ids.get('b1')!;
    await page.goto(`/p/${projectId}/compare?runs=${a},${b}&baseline=${a}`);
    for (const m of ['acc', 'loss']) await page.waitForSelector(`${chartSel(m)}[data-mode=buckets]`);
    expect(heldInVain).toBe(false);
    expect(compares).toBe(0);
    await page.unroute('**/api/v1/metrics/compare?*');
    expect(await legend(page, 'loss')).toEqual(['a1', 'b1']);
    expect(await legend(page, 'acc')).toEqual(['a1', 'b1']);
    // one request for every metric of both runs, only the arrays the charts draw
    expect(requests).toHaveLength(1);
    expect(requests[0].experiment_ids).toEqual([a, b]);
    expect(requests[0].fields).not.toContain('step_start');
    expect(runRequests).toEqual([`/api/v1/projects/${projectId}/experiments?ids=${encodeURIComponent(`${a},${b}`)}&limit=1000`]);
    const canvas = `${chartSel('loss')} canvas`;
    expect(await canvasPainted(page, canvas)).toBe(true);
    // both lines are drawn, each in its run's colour
    expect(await colourPixels(page, canvas, PALETTE[0])).toBeGreaterThan(100);
    expect(await colourPixels(page, canvas, PALETTE[1])).toBeGreaterThan(100);
    expect(await page.$$eval('[data-testid=compare-run] a', (as) => as.map((x) => x.textContent))).toEqual(['a1', 'b1']);
    await screenshot(page, 'compare');

    // metric table: b1's loss is 0.1 below the baseline's (better: loss is minimized)
    await page.click('role=tab[name="Metrics"]');
    await page.waitForSelector('[data-testid=metric-table]');
    const delta = await page.$eval('[data-testid=metric-table] tr[data-metric=loss] td:nth-child(4) [data-testid=delta]', (el) => ({ text: el.textContent, cls: el.className }));
    const base = loss(0.1, 1)[STEPS - 1];
    expect(delta.text).toBe(`−0.1 (−${((0.1 / base) * 100).toFixed(1)}%)`);
    expect(delta.cls).toBe('delta better');
    await screenshot(page, 'compare-metrics');

    // feature diff: only the key that differs
    await page.click('role=tab[name="Feature diff"]');
    await page.waitForSelector('[data-testid=feature-diff]');
    const rows = await page.$$eval('[data-testid=feature-diff] tbody tr', (trs) => trs.map((tr) => [...tr.querySelectorAll('td')].map((td) => td.textContent)));
    expect(rows).toEqual([['optim.lr', 'changed', '0.1', '0.01']]);
    await page.close();
  });

  it("a shared link's series request leaves with the session's answer, before the page's first render", async () => {
    // The page's own requests leave from its first render's effects (the runs read first); the
    // series request, the slowest, is sent by the chunk as soon as the session's CSRF token is known.
    const page = await ui.context.newPage();
    const order: string[] = [];
    page.on('request', (r) => {
      const u = new URL(r.url());
      if (u.pathname.startsWith('/api/v1/')) order.push(u.pathname.replace(`/projects/${projectId}/`, '/projects/<p>/'));
    });
    const requests = recordSeries(page);
    const a = ids.get('a1')!;
    const b = ids.get('b1')!;
    await page.goto(`/p/${projectId}/compare?runs=${a},${b}`);
    for (const m of ['acc', 'loss']) await page.waitForSelector(`${chartSel(m)}[data-mode=buckets]`);
    expect(order.indexOf('/api/v1/metrics/series')).toBeGreaterThan(order.indexOf('/api/v1/auth/session'));
    expect(order.indexOf('/api/v1/metrics/series')).toBeLessThan(order.indexOf('/api/v1/projects/<p>/experiments'));
    // adopted by the page: not asked twice, and charts drawn from it
    expect(requests).toHaveLength(1);
    expect(requests[0].experiment_ids).toEqual([a, b]);
    expect(await canvasPainted(page, `${chartSel('loss')} canvas`)).toBe(true);
    await page.close();
  });

  it('groups by a feature: one mean ± sd band per group across its seeds', async () => {
    const page = await ui.context.newPage();
    const all = ['a1', 'a2', 'b1', 'b2'].map((n) => ids.get(n)!).join(',');
    await page.goto(`/p/${projectId}/compare?runs=${all}&group=optim.lr`);
    await page.waitForSelector(`${chartSel('loss')}[data-mode=buckets]`);
    await page.waitForFunction((sel) => document.querySelectorAll(`${sel} [data-testid=legend-item]`).length === 2, chartSel('loss'));
    expect(await legend(page, 'loss')).toEqual(['optim.lr=0.1 (n=2)', 'optim.lr=0.01 (n=2)']);
    // at the last step: mean of the two seeds, band = ± their sample sd
    const last = (lr: number) => [loss(lr, 1)[STEPS - 1], loss(lr, 2)[STEPS - 1]];
    const [x1, x2] = last(0.1);
    const mean = (x1 + x2) / 2;
    const sd = Math.abs(x1 - x2) / Math.SQRT2;
    const text = await page.$eval(`${chartSel('loss')} [data-v="0"]`, (el) => el.textContent);
    const p5 = (v: number) => String(Number(v.toPrecision(5)));
    expect(text).toBe(`${p5(mean)} [${p5(mean - sd)} … ${p5(mean + sd)}] @ ${(STEPS - 1).toLocaleString('en-US')}`);
    expect(await canvasPainted(page, `${chartSel('loss')} canvas`)).toBe(true);
    await screenshot(page, 'compare-grouped');
    await page.close();
  });

  it("the charts' series come in the binary form (float64 arrays, no JSON to parse) and are drawn from it", async () => {
    const page = await ui.context.newPage();
    const answers: { type: string | undefined; accept: string | undefined }[] = [];
    page.on('response', (r) => {
      if (new URL(r.url()).pathname === '/api/v1/metrics/series') answers.push({ type: r.headers()['content-type'], accept: r.request().headers()['accept'] });
    });
    await page.goto(`/p/${projectId}/compare?runs=${ids.get('a1')},${ids.get('b1')}`);
    await page.waitForSelector(`${chartSel('loss')}[data-mode=buckets]`);
    expect(await canvasPainted(page, `${chartSel('loss')} canvas`)).toBe(true);
    expect(answers.length).toBeGreaterThan(0);
    for (const a of answers) expect([a.type, a.accept?.split(',')[0]]).toEqual(['application/vnd.assay.series', 'application/vnd.assay.series']);
    // both runs' lines: the decoded arrays reached the plot
    expect((await legend(page, 'loss')).length).toBe(2);
    await page.close();
  });
});
