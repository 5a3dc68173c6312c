/**
 * The runs table in real Chromium: exactly the seeded runs and their metric values, sort by a
 * metric column (NaN last), filter + group, selection → compare, and at 1,000 runs × 200 metric
 * columns only a window of rows and cells in the DOM.
 */
import { describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { screenshot, useSignedInBrowser } from './browser.ts';
import { seedProject, type SeedRun } from './pages-helpers.ts';

const RUNS: SeedRun[] = [
  { name: 'adam-lr1e-3', features: { optimizer: { name: 'adam', lr: 0.001 }, seed: 1 }, tags: ['baseline'], host: 'gpu-1', status: 'complete', metrics: { 'val/loss': [0.9, 0.5, 0.42], acc: [0.5, 0.7, 0.81] } },
  { name: 'adam-lr1e-2', features: { optimizer: { name: 'adam', lr: 0.01 }, seed: 1 }, tags: ['sweep'], host: 'gpu-2', status: 'complete', metrics: { 'val/loss': [0.8, 0.3, 0.35], acc: [0.6, 0.8, 0.86] } },
  { name: 'adam-lr1e-1', features: { optimizer: { name: 'adam', lr: 0.1 }, seed: 1 }, tags: ['sweep'], host: 'gpu-2', status: 'failed', metrics: { 'val/loss': [0.7, 2.5, 'NaN'], acc: [0.4, 0.2, 0.1] } },
  { name: 'sgd-lr1e-2', features: { optimizer: { name: 'sgd', lr: 0.01 }, seed: 2 }, tags: ['sweep'], host: 'gpu-3', status: 'complete', metrics: { 'val/loss': [1.1, 0.7, 0.61], acc: [0.4, 0.6, 0.72] } },
  { name: 'sgd-lr1e-1', features: { optimizer: { name: 'sgd', lr: 0.1 }, seed: 2 }, tags: ['sweep'], host: 'gpu-3', status: 'running', metrics: { 'val/loss': [1.0, 0.4, 0.28], acc: [0.5, 0.75, 0.9] } },
];
const COLS = ['host', 'f:optimizer.lr', 'metric:val/loss:last', 'metric:val/loss:min', 'metric:val/loss:max', 'metric:val/loss:best', 'metric:acc:last', 'metric:acc:best']
  .map((c) => `col=${encodeURIComponent(c)}`)
  .join('&');
// val/loss last ascending; NaN (adam-lr1e-1) last in both directions
const BY_LOSS_ASC = ['sgd-lr1e-1', 'adam-lr1e-2', 'adam-lr1e-3', 'sgd-lr1e-2', 'adam-lr1e-1'];

let small: { projectId: string; ids: Map<string, string> };
let big: { projectId: string; ids: Map<string, string> };

const rowNames = (page: Page) => page.$$eval('[data-testid=run-row] .name a', (as) => as.map((a) => a.textContent));

const ui = useSignedInBrowser(async ({ server }) => {
  small = await seedProject(server, 'vision', RUNS);
  // 1,000 runs; 50 metrics (× last/min/max/best = 200 metric columns) logged by every 25th run —
  // a batch per run is most of the seeding time, and empty cells are DOM cells all the same
  const bigRuns: SeedRun[] = Array.from({ length: 1000 }, (_, i) => ({
    name: `run-${String(i).padStart(4, '0')}`,
    features: { lr: 10 ** -(1 + (i % 4)), seed: i },
    metrics: i % 25 === 0 ? Object.fromEntries(Array.from({ length: 50 }, (_, m) => [`m${String(m).padStart(2, '0')}`, [((i * 7919 + m * 104729) % 1000) / 10]])) : {},
  }));
  big = await seedProject(server, 'sweep-1000', bigRuns, 12);
}, 600_000);

describe('runs table', () => {
  it('lists exactly the seeded runs with their metric values and live status', async () => {
    const page = await ui.context.newPage();
    // the chosen columns come from the URL (all 15 would not fit the viewport: the grid renders only those in view)
    await page.goto(`/p/${small.projectId}?${COLS}`);
    await page.waitForSelector('[data-testid=run-row]');
    expect((await rowNames(page)).sort()).toEqual(RUNS.map((r) => r.name).sort());
    expect(await page.textContent('[data-testid=run-count]')).toBe('5 runs');
    const cell = (run: string, col: string) => page.textContent(`[data-run-id="${small.ids.get(run)}"] [data-col="${col}"]`);
    expect(await cell('adam-lr1e-3', 'metric:val/loss:last')).toBe('0.42');
    expect(await cell('adam-lr1e-3', 'metric:val/loss:min')).toBe('0.42');
    expect(await cell('adam-lr1e-3', 'metric:val/loss:max')).toBe('0.9');
    expect(await cell('adam-lr1e-2', 'metric:val/loss:best')).toBe('0.3'); // minimize: the lowest
    expect(await cell('adam-lr1e-2', 'metric:acc:best')).toBe('0.86'); // maximize: the highest
    expect(await cell('adam-lr1e-1', 'metric:val/loss:last')).toBe('NaN');
    expect(await cell('sgd-lr1e-2', 'host')).toBe('gpu-3');
    expect(await cell('adam-lr1e-3', 'f:optimizer.lr')).toBe('0.001');
    expect(await page.$$eval('[data-testid^="col:"]', (h) => h.map((x) => x.getAttribute('data-testid')))).toEqual(['col:status', 'col:name', ...decodeURIComponent(COLS).split('&').map((c) => `col:${c.slice(4)}`)]);
    expect(await page.textContent('[data-testid="col:metric:val/loss:last"]')).toContain('↓');
    expect(await page.textContent('[data-testid="col:metric:acc:last"]')).toContain('↑');
    // the running run with a fresh heartbeat pulses; finished ones do not
    expect(await page.$$eval('[data-testid=run-row] .live-dot', (d) => d.length)).toBe(1);
    expect(await page.$(`[data-run-id="${small.ids.get('sgd-lr1e-1')}"] .live-dot`)).not.toBeNull();
    await screenshot(page, 'runs-table');
    await page.close();
  });

  it('sorts by a metric column (NaN last both ways) and keeps it in the URL', async () => {
    const page = await ui.context.newPage();
    await page.goto(`/p/${small.projectId}?${COLS}`);
    await page.waitForSelector('[data-testid=run-row]');
    await page.click('[data-testid="col:metric:val/loss:last"]');
    await page.waitForSelector('[data-testid="col:metric:val/loss:last"][data-sorted=asc]');
    expect(await rowNames(page)).toEqual(BY_LOSS_ASC);
    await page.click('[data-testid="col:metric:val/loss:last"]');
    await page.waitForSelector('[data-testid="col:metric:val/loss:last"][data-sorted=desc]');
    expect(await rowNames(page)).toEqual([...BY_LOSS_ASC.slice(0, 4).reverse(), 'adam-lr1e-1']);
    expect(new URL(page.url()).searchParams.get('sort')).toBe('metric:val/loss:last');
    // a shared URL restores the order
    await page.goto(page.url());
    await page.waitForSelector('[data-testid="col:metric:val/loss:last"][data-sorted=desc]');
    expect((await rowNames(page))[0]).toBe('sgd-lr1e-2');
    await page.close();
  });

  it('filters by text, status and feature value; groups by a feature with counts; collapses a group', async () => {
    const page = await ui.context.newPage();
    await page.goto(`/p/${small.projectId}`);
    await page.waitForSelector('[data-testid=run-row]');
    await page.fill('[data-testid=runs-filter]', 'optimizer.name=sgd');
    await page.waitForFunction(() => document.querySelectorAll('[data-testid=run-row]').length === 2);
    expect((await rowNames(page)).sort()).toEqual(['sgd-lr1e-1', 'sgd-lr1e-2']);
    expect(await page.textContent('[data-testid=run-count]')).toBe('2 of 5 runs');
    await page.fill('[data-testid=runs-filter]', 'sweep gpu-2');
    await page.waitForFunction(() => document.querySelectorAll('[data-testid=run-row]').length === 2);
    expect((await rowNames(page)).sort()).toEqual(['adam-lr1e-1', 'adam-lr1e-2']);
    await page.fill('[data-testid=runs-filter]', '');
    await page.selectOption('[data-testid=status-filter]', 'complete');
    await page.waitForFunction(() => document.querySelectorAll('[data-testid=run-row]').length === 3);
    await page.selectOption('[data-testid=status-filter]', '');
    await page.selectOption('[data-testid=group-by]', 'optimizer.name');
    await page.waitForSelector('[data-testid=group-row]');
    const groups = await page.$$eval('[data-testid=group-row]', (g) => g.map((x) => x.textContent?.replace(/\s+/g, ' ').trim()));
    expect(groups).toEqual(['▾ optimizer.name = adam (3)', '▾ optimizer.name = sgd (2)']);
    await page.click('[data-testid=group-row][data-group=adam] button');
    await page.waitForFunction(() => document.querySelectorAll('[data-testid=run-row]').length === 2);
    expect((await rowNames(page)).sort()).toEqual(['sgd-lr1e-1', 'sgd-lr1e-2']);
    const url = new URL(page.url());
    expect([url.searchParams.get('group'), url.searchParams.getAll('collapsed')]).toEqual(['optimizer.name', ['adam']]);
    await page.close();
  });

  it('exports the visible table (filtered, sorted, chosen columns) as CSV', async () => {
    const page = await ui.context.newPage();
    await page.goto(`/p/${small.projectId}?col=host&col=${encodeURIComponent('metric:val/loss:last')}&q=sweep&sort=${encodeURIComponent('metric:val/loss:last')}&dir=asc`);
    await page.waitForSelector('[data-testid=run-row]');
    const [download] = await Promise.all([page.waitForEvent('download'), page.click('text=Export CSV')]);
    expect(download.suggestedFilename()).toBe('vision-runs.csv');
    const stream = await download.createReadStream();
    let csv = '';
    for await (const chunk of stream) csv += String(chunk);
    const id = (n: string) => small.ids.get(n);
    expect(csv).toBe(
      [
        'id,name,status,Host,val/loss (last)',
        `${id('sgd-lr1e-1')},sgd-lr1e-1,running,gpu-3,0.28`,
        `${id('adam-lr1e-2')},adam-lr1e-2,complete,gpu-2,0.35`,
        `${id('sgd-lr1e-2')},sgd-lr1e-2,complete,gpu-3,0.61`,
        `${id('adam-lr1e-1')},adam-lr1e-1,failed,gpu-2,NaN`,
        '',
      ].join('\n'),
    );
    await page.close();
  });

  it('the column chooser hides and shows columns and keeps the choice in the URL', async () => {
    const page = await ui.context.newPage();
    await page.goto(`/p/${small.projectId}?${COLS}`);
    await page.waitForSelector('[data-testid="col:host"]');
    await page.click('[data-testid=columns-button]');
    await page.uncheck('[data-testid=column-chooser] label:has-text("Host") input');
    await page.check('[data-testid=column-chooser] label:has-text("optimizer.name") input');
    await page.keyboard.press('Escape');
    await page.waitForSelector('[data-testid="col:host"]', { state: 'detached' });
    await page.waitForSelector('[data-testid="col:f:optimizer.name"]');
    await expect.poll(() => new URL(page.url()).searchParams.getAll('col')).toEqual([...decodeURIComponent(COLS).split('&').map((c) => c.slice(4)).filter((c) => c !== 'host'), 'f:optimizer.name']);
    await page.close();
  });

  it('selected runs → Compare (n) opens the compare view with them', async () => {
    const page = await ui.context.newPage();
    await page.goto(`/p/${small.projectId}`);
    await page.waitForSelector('[data-testid=run-row]');
    expect(await page.isDisabled('[data-testid=compare-button]')).toBe(true);
    const a = small.ids.get('adam-lr1e-3')!;
    const b = small.ids.get('sgd-lr1e-2')!;
    await page.check(`[data-run-id="${a}"] input[type=checkbox]`);
    await page.check(`[data-run-id="${b}"] input[type=checkbox]`);
    expect(await page.textContent('[data-testid=compare-button]')).toBe('Compare (2)');
    await page.click('[data-testid=compare-button]');
    await page.waitForURL(/\/compare\?/);
    const url = new URL(page.url());
    expect([url.pathname, url.searchParams.get('runs')]).toEqual([`/p/${small.projectId}/compare`, `${a},${b}`]);
    await page.close();
  });

  it('1,000 runs × 200 metric columns: only a window of rows and cells is in the DOM; a metric column sorts them', async () => {
    const page = await ui.context.newPage();
    await page.goto(`/p/${big.projectId}`);
    await page.waitForSelector('[data-testid=run-row]');
    expect(await page.textContent('[data-testid=run-count]')).toBe('1000 runs');
    expect(await page.textContent('[data-testid=columns-button]')).toBe('Columns (206)'); // 4 base + lr/seed + 50 × 4
    const counts = () =>
      page.$$eval('[data-testid=run-row]', (rows) => ({ rows: rows.length, cells: rows.reduce((n, r) => n + r.querySelectorAll('.rt-cell').length, 0), headers: document.querySelectorAll('[data-testid^="col:"]').length }));
    const before = await counts();
    // the viewport (1400 × 900) shows ~25 rows and ~10 scrolling columns; overscan adds a few
    expect(before.rows).toBeGreaterThan(15);
    expect(before.rows).toBeLessThan(50);
    expect(before.cells / before.rows).toBeLessThan(25);
    expect(before.headers).toBeLessThan(25);
    // scroll to the far corner: the last run and the last column come into the DOM, the first leave
    await page.$eval('[data-testid=runs-table]', (el) => el.scrollTo(el.scrollWidth, el.scrollHeight));
    await page.waitForSelector(`[data-run-id="${big.ids.get('run-0000')}"]`); // newest first: the first seeded is last
    await page.waitForSelector('[data-testid="col:metric:m49:best"]');
    expect(await page.$(`[data-run-id="${big.ids.get('run-0999')}"]`)).toBeNull();
    const after = await counts();
    expect(after.rows).toBeLessThan(50);
    await page.$eval('[data-testid=runs-table]', (el) => el.scrollTo(0, 0));
    await page.waitForSelector('[data-testid="col:metric:m00:last"]');
    // sort by a metric column: click → rows reordered and the header marked, timed in the page
    const ms = await page.evaluate(async () => {
      const h = document.querySelector<HTMLElement>('[data-testid="col:metric:m00:last"]')!;
      const t0 = performance.now();
      h.click();
      await new Promise<void>((resolve) => {
        const check = () => (h.isConnected && document.querySelector('[data-testid="col:metric:m00:last"][data-sorted=asc]') ? resolve() : requestAnimationFrame(check));
        check();
      });
      return performance.now() - t0;
    });
    // the time is reported, not asserted: speed is the benchmark's (ui_runs_table_1000_sort_ms), and a
    // loaded CI machine made this 118 ms once; what the test asserts is the order below
    console.log(`runs table 1,000 × 206 columns: sort by a metric column in ${ms.toFixed(1)} ms`);
    const expected = Array.from({ length: 40 }, (_, k) => ((k * 25 * 7919) % 1000) / 10).sort((a, b) => a - b);
    const first = await page.$$eval('[data-testid=run-row] [data-col="metric:m00:last"]', (c) => c.slice(0, 10).map((x) => Number(x.textContent)));
    expect(first).toEqual(expected.slice(0, 10));
    await page.close();
  });

  // last: it changes a value the tests above expect
  it('live: a point logged to a run shows up without reload, by polling only what changed (since=)', async () => {
    const page = await ui.context.newPage();
    const reads: string[] = [];
    page.on('request', (r) => {
      if (r.url().includes('/runs-table')) reads.push(new URL(r.url()).searchParams.has('since') ? 'since' : 'full');
    });
    await page.goto(`/p/${small.projectId}?${COLS}&sort=${encodeURIComponent('metric:val/loss:last')}&dir=asc`);
    await page.waitForSelector('[data-testid=run-row]');
    await page.check(`[data-run-id="${small.ids.get('adam-lr1e-2')}"] input[type=checkbox]`);
    const cell = `[data-run-id="${small.ids.get('sgd-lr1e-2')}"] [data-col="metric:val/loss:last"]`;
    expect(await page.textContent(cell)).toBe('0.61');
    await ui.server.api('POST', `/metrics/batch/${small.projectId}/${small.ids.get('sgd-lr1e-2')}`, { metrics: [{ metric_name: 'val/loss', metric_value: 0.1, step: 3 }] });
    await page.waitForFunction((sel) => document.querySelector(sel)?.textContent === '0.1', cell, { timeout: 8000 });
    // re-sorted in place with the new value; the selection and the sort survived the update
    expect((await rowNames(page))[0]).toBe('sgd-lr1e-2');
    expect(await page.isChecked(`[data-run-id="${small.ids.get('adam-lr1e-2')}"] input[type=checkbox]`)).toBe(true);
    expect(reads[0]).toBe('full');
    expect(reads.slice(1).every((r) => r === 'since')).toBe(true);
    expect(reads.length).toBeGreaterThan(1);
    await page.close();
  });
});
