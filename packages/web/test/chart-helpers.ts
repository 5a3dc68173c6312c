/** Helpers of the chart browser tests (charts, live, compare) and the UI benchmark. */
import type { Page, Request } from 'playwright-core';
import type { LiveServer } from './browser.ts';

export interface SeriesBody {
  project_id: string;
  series: { experiment_id: string; metric_name: string }[];
  /** Compare's first request: every metric of these runs (then `series` is absent). */
  experiment_ids?: string[];
  fields?: string[];
  buckets?: number;
  step_min?: number;
  step_max?: number;
}

/** Records every `POST /api/v1/metrics/series` body the page sends. */
export function recordSeries(page: Page): SeriesBody[] {
  const seen: SeriesBody[] = [];
  page.on('request', (r: Request) => {
    if (r.method() === 'POST' && new URL(r.url()).pathname === '/api/v1/metrics/series') seen.push(JSON.parse(r.postData() ?? '{}') as SeriesBody);
  });
  return seen;
}

/** Writes `steps` points of one metric in columnar batches of 100,000 (the API's per-request cap). */
export async function logSeries(server: LiveServer, projectId: string, runId: string, metric: string, steps: number, value: (step: number) => number | string): Promise<void> {
  const chunk = 100_000;
  for (let s0 = 0; s0 < steps; s0 += chunk) {
    const n = Math.min(chunk, steps - s0);
    const st = Array.from({ length: n }, (_, i) => s0 + i);
    await server.api('POST', `/metrics/batch/${projectId}/${runId}`, { series: [{ metric_name: metric, steps: st, values: st.map(value) }] });
  }
}

export const chartSel = (metric: string) => `[data-testid=chart][data-metric="${metric}"]`;

export async function chartAttr(page: Page, metric: string, attr: string): Promise<string | null> {
  return page.$eval(chartSel(metric), (el, a) => el.getAttribute(a), attr);
}

/** Drag across the plot from x fraction `a` to `b` of its width (uPlot's drag-select). */
export async function dragZoom(page: Page, metric: string, a: number, b: number): Promise<void> {
  const over = await page.$(`${chartSel(metric)} .u-over`);
  const box = (await over!.boundingBox())!;
  const y = box.y + box.height / 2;
  await page.mouse.move(box.x + box.width * a, y);
  await page.mouse.down();
  await page.mouse.move(box.x + box.width * ((a + b) / 2), y, { steps: 4 });
  await page.mouse.move(box.x + box.width * b, y, { steps: 4 });
  await page.mouse.up();
}

/** Counts pixels of the canvas close to an RGB colour (the lines of one run). */
export async function colourPixels(page: Page, selector: string, hex: string): Promise<number> {
  return page.$eval(
    selector,
    (el, h) => {
      const n = parseInt(h.slice(1), 16);
      const [r, g, b] = [(n >> 16) & 255, (n >> 8) & 255, n & 255];
      const c = el as HTMLCanvasElement;
      const d = c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data;
      let k = 0;
      for (let i = 0; i < d.length; i += 4) if (d[i + 3] > 200 && Math.abs(d[i] - r) < 40 && Math.abs(d[i + 1] - g) < 40 && Math.abs(d[i + 2] - b) < 40) k++;
      return k;
    },
    hex,
  );
}
