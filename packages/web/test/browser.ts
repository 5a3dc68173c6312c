/**
 * Real-browser test harness: Debian's Chromium driven by playwright-core against a live
 * `assay serve` (packages/sdk/test/live-server.ts) seeded through the public API.
 */
import fs from 'node:fs';
import path from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll } from 'vitest';
import { LiveServer, REPO_ROOT, type LiveServerOptions } from '../../sdk/test/live-server.ts';

/** `.ci/run` installs Debian's `chromium`; ASSAY_CHROMIUM points elsewhere. */
export const CHROMIUM = process.env.ASSAY_CHROMIUM || '/usr/bin/chromium';
/** Screenshots of the main pages, kept after the run for people to look at. */
export const SCREENSHOTS = path.join(REPO_ROOT, 'test-artifacts', 'ui');

export const ADMIN = { email: 'admin@example.com', password: 'correct horse battery staple' };

export async function launchBrowser(): Promise<Browser> {
  if (!fs.existsSync(CHROMIUM)) throw new Error(`Chromium not found at ${CHROMIUM}: apt-get install chromium (or set ASSAY_CHROMIUM)`);
  return chromium.launch({
    executablePath: CHROMIUM,
    // containers: no user namespaces for the sandbox, a small /dev/shm
    args: ['--no-sandbox', '--disable-dev-shm-usage', '--disable-gpu'],
  });
}

/** A live server whose team admin can sign in with ADMIN's email and password. */
export function startServer(opts: LiveServerOptions = {}): Promise<LiveServer> {
  return LiveServer.create({ admin: ADMIN, ...opts });
}

/** A signed-in browser context (the session cookie set by the real login route). */
export async function signedInContext(browser: Browser, server: LiveServer, who = ADMIN): Promise<BrowserContext> {
  const context = await browser.newContext({ baseURL: server.url, viewport: { width: 1400, height: 900 } });
  const res = await context.request.post('/api/v1/auth/login', { data: { email: who.email, password: who.password } });
  if (!res.ok()) throw new Error(`sign-in failed: ${res.status()} ${await res.text()}`);
  return context;
}

export interface BrowserSession {
  server: LiveServer;
  browser: Browser;
  /** signed in as ADMIN */
  context: BrowserContext;
}

/**
 * A test file's live server, Chromium and signed-in admin context: started before its tests (then
 * `seed` runs), closed after them. The fields are filled in by the time the first test runs.
 */
export function useSignedInBrowser(seed?: (s: BrowserSession) => Promise<void>, timeoutMs = 300_000): BrowserSession {
  const s = {} as BrowserSession;
  beforeAll(async () => {
    s.server = await startServer();
    s.browser = await launchBrowser();
    s.context = await signedInContext(s.browser, s.server);
    await seed?.(s);
  }, timeoutMs);
  afterAll(async () => {
    await s.context?.close();
    await s.browser?.close();
    await s.server?.cleanup();
  });
  return s;
}

export async function screenshot(page: Page, name: string): Promise<string> {
  fs.mkdirSync(SCREENSHOTS, { recursive: true });
  const file = path.join(SCREENSHOTS, `${name}.png`);
  await page.screenshot({ path: file, fullPage: false });
  return file;
}

/** True when the canvas has at least `minPixels` non-transparent pixels (a chart was drawn). */
export async function canvasPainted(page: Page, selector: string, minPixels = 200): Promise<boolean> {
  return page.$eval(
    selector,
    (el, min) => {
      const c = el as HTMLCanvasElement;
      const d = c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data;
      let n = 0;
      for (let i = 3; i < d.length; i += 4) if (d[i]! > 0 && ++n >= min) return true;
      return false;
    },
    minPixels,
  );
}

export { LiveServer };
