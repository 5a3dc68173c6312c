/**
 * Charts in real Chromium: a 1,000,000-point metric whose only spike sits where a uniform 1-in-1000
 * sample would miss it is painted with the spike on screen; drag-zoom asks the server for the
 * narrower range and shows raw points once they fit; only the charts in view are mounted, with one
 * series request per batch of charts coming into view.
 */
import { describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { canvasPainted, screenshot, useSignedInBrowser } from './browser.ts';
import { chartAttr, chartSel, colourPixels, dragZoom, logSeries, recordSeries } from './chart-helpers.ts';
import { seedProject } from './pages-helpers.ts';

const N = 1_000_000;
/** Not a multiple of 1,000: a uniform 1-in-1000 sample (steps 0, 1000, 2000, …) never sees it. */
const SPIKE = 123_457;
const DIFF = ['diff --git a/train.py b/train.py', '--- a/train.py', '+++ b/train.py', '@@ -1,2 +1,2 @@', '-lr = 0.1', '+lr = 0.01', ' epochs = 3'].join('\n');
const value = (s: number) => (s === SPIKE ? 100 : ((s * 7919) % 1000) / 1000);

let projectId: string;
let bigRun: string;
let manyRun: string;
let oddRun: string;
let childRun: string;

const ui = useSignedInBrowser(async ({ server }) => {
  const seeded = await seedProject(server, 'charts', [
    { name: 'spiky', status: 'complete', features: { model: { depth: 12 } } },
    { name: 'forty', status: 'complete', metrics: Object.fromEntries(Array.from({ length: 40 }, (_, m) => [`train/m${String(m).padStart(2, '0')}`, Array.from({ length: 50 }, (_, i) => i * (m + 1))])) },
  ]);
  projectId = seeded.projectId;
  bigRun = seeded.ids.get('spiky')!;
  manyRun = seeded.ids.get('forty')!;
  await logSeries(server, projectId, bigRun, 'train/loss', N, value);
  // NaN/±Inf and non-positive values; a code snapshot, an artifact and a child run for the tabs
  const odd = await seedProject(server, 'charts', [{ name: 'odd', status: 'complete', metrics: { 'val/odd': [1, 'NaN', 2, 'Infinity', -1, 3, 0, '-Infinity', 4, 5] } }]);
  oddRun = odd.ids.get('odd')!;
  await server.api('PUT', `/projects/${projectId}/experiments/${bigRun}/code`, { commit: 'abc123', branch: 'main', dirty: true, diff: DIFF });
  await fetch(`${server.url}/api/v1/projects/${projectId}/experiments/${bigRun}/artifacts?path=ckpt/model.pt`, {
    method: 'PUT',
    headers: { Authorization: `Bearer ${server.apiKey}`, 'Content-Type': 'application/octet-stream' },
    body: 'weights!',
  }).then((r) => expect(r.status).toBe(201));
  childRun = (await server.api<{ id: string }>('POST', `/projects/${projectId}/experiments`, { name: 'spiky-finetune', parent_id: bigRun })).id;
}, 600_000);

async function openRun(page: Page, runId: string, query = ''): Promise<void> {
  await page.goto(`/p/${projectId}/runs/${runId}${query}`);
  await page.waitForSelector('[data-testid=run-charts]');
}

describe('a 1,000,000-point chart', () => {
  it('is painted at full fidelity: min/max buckets whose band holds the one spike', async () => {
    const page = await ui.context.newPage();
    const requests = recordSeries(page);
    await openRun(page, bigRun);
    await page.waitForSelector(`${chartSel('train/loss')}[data-mode=buckets]`);
    expect(await chartAttr(page, 'train/loss', 'data-total')).toBe(String(N));
    expect(await canvasPainted(page, `${chartSel('train/loss')} canvas`)).toBe(true);
    // the plotted y range reaches the spike: it is on screen, not sampled away
    expect(Number(await chartAttr(page, 'train/loss', 'data-y-max'))).toBeGreaterThanOrEqual(100);
    // buckets = the plot's pixel width, the whole run, one request
    expect(requests).toHaveLength(1);
    const width = await page.$eval(`${chartSel('train/loss')} .chart-plot`, (el) => Math.floor(el.getBoundingClientRect().width));
    expect(requests[0]).toEqual({ project_id: projectId, series: [{ experiment_id: bigRun, metric_name: 'train/loss' }], buckets: width, fields: expect.arrayContaining(['last', 'last_step', 'min', 'max']) });
    // the page's header and the hover legend
    expect(await page.textContent('[data-testid=run-name]')).toBe('spiky');
    expect(await page.textContent('[data-testid=run-status]')).toBe('complete');
    await screenshot(page, 'run-page');
    await page.close();
  });

  it('zoom re-queries the narrower range at full resolution and shows raw points once they fit; double-click resets', async () => {
    const page = await ui.context.newPage();
    await openRun(page, bigRun);
    await page.waitForSelector(`${chartSel('train/loss')}[data-mode=buckets]`);
    const requests = recordSeries(page);
    await dragZoom(page, 'train/loss', 0.3, 0.32);
    await page.waitForFunction(() => new URL(location.href).searchParams.has('zoom'));
    await expect.poll(() => requests.length).toBe(1);
    const first = requests[0];
    expect(first.step_min).toBeGreaterThan(250_000);
    expect(first.step_max! - first.step_min!).toBeLessThan(40_000);
    expect(first.step_max! - first.step_min!).toBeGreaterThan(10_000);
    expect(new URL(page.url()).searchParams.get('zoom')).toBe(`${first.step_min}-${first.step_max}`);
    await page.waitForSelector(`${chartSel('train/loss')}:not([data-mode=loading])`);
    // the visible x range is the zoomed one
    expect(Number(await chartAttr(page, 'train/loss', 'data-x-min'))).toBe(first.step_min);
    expect(Number(await chartAttr(page, 'train/loss', 'data-x-max'))).toBe(first.step_max);

    // a second drag: a few hundred steps fit the plot's pixels → raw points
    await dragZoom(page, 'train/loss', 0.4, 0.415);
    await expect.poll(() => requests.length).toBe(2);
    const second = requests[1];
    expect(second.step_min).toBeGreaterThanOrEqual(first.step_min!);
    expect(second.step_max).toBeLessThanOrEqual(first.step_max!);
    expect(second.step_max! - second.step_min!).toBeLessThan(second.buckets!);
    await page.waitForSelector(`${chartSel('train/loss')}[data-mode=raw]`);
    expect(Number(await chartAttr(page, 'train/loss', 'data-x-min'))).toBe(second.step_min);
    expect(await canvasPainted(page, `${chartSel('train/loss')} canvas`)).toBe(true);
    // raw values in [0, 1]: the spike is elsewhere, so the y range fits them
    expect(Number(await chartAttr(page, 'train/loss', 'data-y-max'))).toBeLessThan(2);
    await screenshot(page, 'chart-zoomed');

    await page.dblclick(`${chartSel('train/loss')} .u-over`);
    await page.waitForFunction(() => !new URL(location.href).searchParams.has('zoom'));
    await page.waitForSelector(`${chartSel('train/loss')}[data-mode=buckets]`);
    expect(Number(await chartAttr(page, 'train/loss', 'data-y-max'))).toBeGreaterThanOrEqual(100);
    // the whole-run data was kept: no new request for it
    expect(requests).toHaveLength(2);
    await page.close();
  });

  it('keyboard: + zooms in around the middle, arrows pan, each a full-resolution request', async () => {
    const page = await ui.context.newPage();
    await openRun(page, bigRun);
    await page.waitForSelector(`${chartSel('train/loss')}[data-mode=buckets]`);
    const requests = recordSeries(page);
    await page.focus(chartSel('train/loss'));
    await page.keyboard.press('+');
    await expect.poll(() => requests.length).toBe(1);
    const z = requests[0];
    expect(z.step_max! - z.step_min!).toBe(Math.round((N - 1) / 4) * 2);
    await page.keyboard.press('ArrowRight');
    await expect.poll(() => requests.length).toBe(2);
    expect(requests[1].step_min! - z.step_min!).toBe(Math.round((z.step_max! - z.step_min!) / 4));
    await page.close();
  });

  it('exports the chart data as CSV', async () => {
    const page = await ui.context.newPage();
    await openRun(page, manyRun);
    await page.waitForSelector(`${chartSel('train/m00')}[data-mode=raw]`);
    const [dl] = await Promise.all([page.waitForEvent('download'), page.click(`${chartSel('train/m00')} .chart-btn`)]);
    const fs = await import('node:fs');
    const file = await dl.path();
    const lines = fs.readFileSync(file, 'utf8').trim().split('\n');
    await dl.delete();
    expect(lines[0]).toBe('run,metric,step,timestamp,value,min,max,mode');
    expect(lines).toHaveLength(51);
    expect(lines[2].split(',').slice(0, 3)).toEqual(['forty', 'train/m00', '1']);
    expect(lines[2].split(',')[4]).toBe('1');
    await page.close();
  });
});

describe('only the charts in view are mounted', () => {
  it('40 metrics: canvases only for the slots on screen, one series request per batch', async () => {
    const page = await ui.context.newPage();
    const requests = recordSeries(page);
    await openRun(page, manyRun);
    await page.waitForSelector(`${chartSel('train/m00')}[data-mode=raw]`);
    await page.waitForTimeout(300);
    const count = () =>
      page.evaluate(() => {
        const slots = [...document.querySelectorAll('[data-chart-slot]')];
        const near = slots.filter((s) => {
          const r = s.getBoundingClientRect();
          return r.bottom > -100 && r.top < innerHeight + 100;
        }).length;
        return { slots: slots.length, near, canvases: document.querySelectorAll('[data-testid=chart] canvas').length };
      });
    const top = await count();
    expect(top.slots).toBe(40);
    expect(top.canvases).toBe(top.near);
    expect(top.canvases).toBeGreaterThan(0);
    expect(top.canvases).toBeLessThan(12);
    expect(requests).toHaveLength(1);
    expect(requests[0].series).toHaveLength(top.canvases);
    expect(await canvasPainted(page, `${chartSel('train/m00')} canvas`)).toBe(true);

    await page.evaluate(() => window.scrollTo(0, document.body.scrollHeight));
    await page.waitForSelector(`${chartSel('train/m39')}[data-mode=raw]`);
    await page.waitForTimeout(300);
    const bottom = await count();
    expect(bottom.canvases).toBe(bottom.near);
    expect(await page.$(chartSel('train/m00'))).toBeNull();
    expect(requests).toHaveLength(2);
    await page.close();
  });
});

describe('chart settings', () => {
  it('NaN/±Inf are gaps, log scale hides ≤ 0 and says so, smoothing keeps the raw line, x axis by time', async () => {
    const page = await ui.context.newPage();
    await openRun(page, oddRun);
    const sel = chartSel('val/odd');
    await page.waitForSelector(`${sel}[data-mode=raw]`);
    expect(await canvasPainted(page, `${sel} canvas`)).toBe(true);
    // ±Infinity does not stretch the y axis: the finite values set it
    expect(Number(await chartAttr(page, 'val/odd', 'data-y-max'))).toBeLessThan(10);
    expect(Number(await chartAttr(page, 'val/odd', 'data-y-min'))).toBeGreaterThan(-10);

    await page.check('[data-testid=log-y]');
    await page.waitForFunction((s) => document.querySelector(`${s} .chart-meta`)?.textContent?.includes('hidden (log)'), sel);
    expect(await page.textContent(`${sel} .chart-meta`)).toBe('10 pts · 2 values ≤ 0 hidden (log)');
    expect(new URL(page.url()).searchParams.get('log')).toBe('1');
    await page.uncheck('[data-testid=log-y]');

    await page.selectOption('[data-testid=smoothing]', 'ema');
    expect(new URL(page.url()).searchParams.get('smooth')).toBe('ema:0.6');
    // the last point: 5 raw, EMA(0.6) debiased over the finite values 1,2,3,4,5 (−1 and 0 included)
    const finite = [1, 2, -1, 3, 0, 4, 5];
    let acc = 0;
    let deb = 1;
    for (const v of finite) {
      acc = acc * 0.6 + 0.4 * v;
      deb *= 0.6;
    }
    const p5 = (v: number) => String(Number(v.toPrecision(5)));
    await page.waitForFunction((s) => document.querySelector(`${s} [data-v="0"]`)?.textContent?.includes('raw'), sel);
    expect(await page.textContent(`${sel} [data-v="0"]`)).toBe(`${p5(acc / (1 - deb))} (raw 5) @ 9`);

    await page.selectOption('[data-testid=x-axis]', 'wall');
    await page.waitForFunction((s) => Number(document.querySelector(s)?.getAttribute('data-x-min')) > 1e12, sel);
    await page.selectOption('[data-testid=x-axis]', 'relative');
    await page.waitForFunction((s) => Number(document.querySelector(s)?.getAttribute('data-x-max')) < 1e6, sel);
    expect(new URL(page.url()).searchParams.get('x')).toBe('relative');
    await page.close();
  });
  it('follows a theme switch while open: axes and grid are repainted in the dark palette', async () => {
    const page = await ui.context.newPage();
    await page.emulateMedia({ colorScheme: 'light' });
    await openRun(page, oddRun);
    const canvas = `${chartSel('val/odd')} canvas`;
    await page.waitForSelector(`${chartSel('val/odd')}[data-mode=raw]`);
    // styles.css: --border (the grid) is #d9dde3 in light and #333a44 in dark
    const lightGrid = await colourPixels(page, canvas, '#d9dde3');
    expect(lightGrid).toBeGreaterThan(100);
    expect(await colourPixels(page, canvas, '#333a44')).toBe(0);
    await page.emulateMedia({ colorScheme: 'dark' });
    await page.waitForFunction((s) => document.querySelector(s)?.getAttribute('data-axis-stroke') === '#9aa3ae', chartSel('val/odd'));
    await screenshot(page, 'chart-dark');
    expect(await colourPixels(page, canvas, '#333a44')).toBeGreaterThan(100);
    // what stays near the light grid colour is the points' white fill (~60 px), not the grid (~1,800)
    expect(await colourPixels(page, canvas, '#d9dde3')).toBeLessThan(lightGrid / 10);
    await page.close();
  });
});

describe('run page tabs', () => {
  it('features tree and search, code diff, artifact download, lineage both ways', async () => {
    const page = await ui.context.newPage();
    await openRun(page, bigRun);
    await page.click('[data-testid=tab-features]');
    await page.waitForSelector('[data-testid=features]');
    expect(await page.$$eval('.ftree-node > summary', (s) => s.map((x) => x.textContent))).toEqual(['model']);
    await page.fill('[data-testid=features] input', 'dep');
    expect(await page.$$eval('.ftree-leaf', (ls) => ls.map((l) => l.textContent))).toEqual(['model.depth12']);

    await page.click('[data-testid=tab-code]');
    await page.waitForSelector('[data-testid=diff]');
    expect(await page.$$eval('[data-testid=diff] > div', (ds) => ds.map((d) => d.className))).toEqual(['d-file', 'd-file', 'd-file', 'd-hunk', 'd-del', 'd-add', '']);
    expect(await page.textContent('.diff-stat')).toBe('1 file changed, +1 −1');
    expect(new URL(page.url()).searchParams.get('tab')).toBe('code');

    await page.click('[data-testid=tab-artifacts]');
    const href = await page.getAttribute('[data-testid=artifact-link]', 'href');
    expect(await page.textContent('[data-testid=artifact-link]')).toBe('ckpt/model.pt');
    const res = await page.request.get(href!);
    expect(res.status()).toBe(200);
    expect(await res.text()).toBe('weights!');

    await page.click('[data-testid=tab-lineage]');
    await page.waitForSelector('[data-testid=lineage]');
    expect(await page.textContent('[data-testid=lineage] li')).toContain('spiky-finetune');
    await page.click('[data-testid=lineage] li a');
    await page.waitForFunction((id) => location.pathname.endsWith(id), childRun);
    await page.click('[data-testid=tab-lineage]');
    await page.waitForSelector('[data-testid=lineage]');
    expect(await page.textContent('[data-testid=lineage] li')).toBe('derived from spiky complete');
    await page.close();
  });
});
