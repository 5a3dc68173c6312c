/**
 * Live charts: a run logged to by the Python SDK while its page is open. A new point shows up
 * without a reload within seconds, polls ask only for the steps after the last one seen, a zoomed
 * view keeps its range, the canvas is updated in place (no remount), and a hidden tab stops polling.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../../sdk/test/live-server.ts';
import { screenshot, useSignedInBrowser } from './browser.ts';
import { chartAttr, chartSel, dragZoom, recordSeries } from './chart-helpers.ts';

/** Logs steps 0–4, prints the run id, then logs each step read from stdin (acknowledged) until "finish". */
const SCRIPT = `
import sys
from research_sdk import Experiment
exp = Experiment(project=sys.argv[1], name="live-run", system_metrics=False)
for s in range(5):
    exp.log_metric("train/loss", 1.0 / (s + 1), step=s)
assert exp.flush_metrics(timeout=30)
print(exp.id, flush=True)
for line in sys.stdin:
    cmd = line.strip()
    if cmd == "finish":
        break
    s = int(cmd)
    exp.log_metric("train/loss", 1.0 / (s + 1), step=s)
    assert exp.flush_metrics(timeout=30)
    print("logged", s, flush=True)
print("finished", exp.finish(status="complete"), flush=True)
`;

let spool: string;
let py: ChildProcessWithoutNullStreams | null = null;

const ui = useSignedInBrowser();

beforeAll(() => {
  spool = fs.mkdtempSync(path.join(os.tmpdir(), 'assay-web-live-'));
});

afterAll(async () => {
  py?.kill('SIGKILL');
  fs.rmSync(spool, { recursive: true, force: true });
});

function lines(p: ChildProcessWithoutNullStreams): () => Promise<string> {
  const rl = readline.createInterface({ input: p.stdout });
  const queue: string[] = [];
  const waiting: ((l: string) => void)[] = [];
  rl.on('line', (l) => (waiting.length ? waiting.shift()!(l) : queue.push(l)));
  return () => (queue.length ? Promise.resolve(queue.shift()!) : new Promise((r) => waiting.push(r)));
}

describe('live updates', () => {
  it('a point logged by the Python SDK appears without reload, only new steps are fetched, zoom is kept', async () => {
    const project = await ui.server.api<{ id: string }>('POST', '/projects', { name: 'live' });
    let stderr = '';
    py = spawn('python3', ['-c', SCRIPT, 'live'], {
      env: { ...process.env, PYTHONPATH: path.join(REPO_ROOT, 'python'), ASSAY_API_URL: ui.server.url, ASSAY_API_KEY: ui.server.apiKey, ASSAY_SPOOL_DIR: spool },
    });
    py.stderr.on('data', (d) => (stderr += String(d)));
    const next = lines(py);
    const runId = (await next()).trim();
    expect(runId, stderr).toMatch(/^[0-9a-f-]{36}$/);

    const page = await ui.context.newPage();
    const requests = recordSeries(page);
    await page.goto(`/p/${project.id}/runs/${runId}`);
    await page.waitForSelector(`${chartSel('train/loss')}[data-last-step="4"]`);
    expect(await page.textContent('[data-testid=run-status]')).toBe('running');
    // the canvas must be updated in place, not remounted (no flicker)
    await page.$eval(`${chartSel('train/loss')} canvas`, (c) => ((c as HTMLCanvasElement).dataset.mark = 'first'));

    const t0 = Date.now();
    py.stdin.write('5\n');
    expect(await next()).toBe('logged 5');
    const acked = Date.now();
    await page.waitForSelector(`${chartSel('train/loss')}[data-last-step="5"]`, { timeout: 5000 });
    const latency = Date.now() - acked;
    console.log(`live: point acknowledged → on screen in ${latency} ms (logged → on screen ${Date.now() - t0} ms)`);
    expect(latency).toBeLessThan(5000);
    expect(await page.$eval(`${chartSel('train/loss')} canvas`, (c) => (c as HTMLCanvasElement).dataset.mark)).toBe('first');
    expect(await chartAttr(page, 'train/loss', 'data-total')).toBe('6');

    // polls after the first load ask only for steps after the last seen, in raw mode
    const polls = requests.slice(1);
    expect(polls.length).toBeGreaterThan(0);
    for (const b of polls) {
      expect(b.step_min).toBeGreaterThanOrEqual(5);
      expect(b.step_max).toBeUndefined();
      expect(b.buckets).toBe(10_000);
    }
    expect(polls.some((b) => b.step_min === 5)).toBe(true);

    // zoomed: the new point extends the data, the view stays
    await dragZoom(page, 'train/loss', 0.05, 0.6);
    await page.waitForFunction(() => new URL(location.href).searchParams.has('zoom'));
    await page.waitForSelector(`${chartSel('train/loss')}:not([data-mode=loading])`);
    const zoom = new URL(page.url()).searchParams.get('zoom');
    const view = [await chartAttr(page, 'train/loss', 'data-x-min'), await chartAttr(page, 'train/loss', 'data-x-max')];
    py.stdin.write('6\n');
    expect(await next()).toBe('logged 6');
    await page.waitForSelector(`${chartSel('train/loss')}[data-last-step="6"]`, { timeout: 5000 });
    expect(new URL(page.url()).searchParams.get('zoom')).toBe(zoom);
    expect([await chartAttr(page, 'train/loss', 'data-x-min'), await chartAttr(page, 'train/loss', 'data-x-max')]).toEqual(view);
    await screenshot(page, 'run-live');

    // a hidden tab does not poll
    await page.evaluate(() => {
      Object.defineProperty(document, 'hidden', { configurable: true, get: () => true });
      document.dispatchEvent(new Event('visibilitychange'));
    });
    await page.waitForTimeout(500);
    const before = requests.length;
    py.stdin.write('7\n');
    expect(await next()).toBe('logged 7');
    await page.waitForTimeout(4500);
    expect(requests.length).toBe(before);
    expect(await chartAttr(page, 'train/loss', 'data-last-step')).toBe('6');
    // shown again: catches up at once
    await page.evaluate(() => {
      Object.defineProperty(document, 'hidden', { configurable: true, get: () => false });
      document.dispatchEvent(new Event('visibilitychange'));
    });
    await page.waitForSelector(`${chartSel('train/loss')}[data-last-step="7"]`, { timeout: 3000 });

    // finished: the header says so and polling stops
    py.stdin.write('finish\n');
    expect(await next()).toBe('finished True');
    await page.waitForFunction(() => document.querySelector('[data-testid=run-status]')?.textContent === 'complete', undefined, { timeout: 6000 });
    await page.waitForTimeout(300);
    const settled = requests.length;
    await page.waitForTimeout(4500);
    expect(requests.length).toBe(settled);
    await page.close();
  });
});
