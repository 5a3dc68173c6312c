/**
 * Sign-in and the app shell in real Chromium: the password form (errors inline, `next` kept), a
 * one-time sign-in link from `assay team create` without `--password`, sign-out, keyboard
 * shortcuts, a user of another team who opens team A's URLs sees not-found and nothing of A, and
 * switches to A from the top bar once A's admin adds them.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser } from 'playwright-core';
import { createTeam } from '../../sdk/test/live-server.ts';
import { ADMIN, launchBrowser, screenshot, startServer, type LiveServer } from './browser.ts';
import { seedProject, signInThroughForm, tokenOf } from './pages-helpers.ts';

let server: LiveServer;
let browser: Browser;
let alpha: { projectId: string; ids: Map<string, string> };
const B = { email: 'bea@other.example', password: 'another long passphrase' };

const fresh = () => browser.newContext({ baseURL: server.url, viewport: { width: 1400, height: 900 } });

beforeAll(async () => {
  server = await startServer();
  browser = await launchBrowser();
  alpha = await seedProject(server, 'alpha-secret-project', [{ name: 'alpha-secret-run', features: { lr: 0.1 }, status: 'complete', metrics: { loss: [1, 0.5] } }]);
  await server.api('PATCH', `/projects/${alpha.projectId}`, { description: 'alpha-secret-description' });
}, 300_000);

afterAll(async () => {
  await browser?.close();
  await server?.cleanup();
});

describe('sign-in', () => {
  it('signs in through the form and lands on the projects', async () => {
    const ctx = await fresh();
    const page = await ctx.newPage();
    await page.goto('/');
    await page.waitForURL(/\/signin\?next=%2F$/);
    await page.waitForSelector('[data-testid=signin-form]');
    await screenshot(page, 'signin');
    await signInThroughForm(page, ADMIN);
    await page.waitForSelector('[data-testid=project-row]');
    expect(new URL(page.url()).pathname).toBe('/');
    expect(await page.$$eval('[data-testid=project-row] a.strong', (a) => a.map((x) => x.textContent))).toEqual(['alpha-secret-project']);
    expect(await page.textContent('[data-testid=team-name]')).toBe('team-123');
    expect(await page.$('[data-testid=admin-link]')).not.toBeNull();
    await screenshot(page, 'projects');
    await ctx.close();
  });

  it('a wrong password shows the error inline and signs nobody in', async () => {
    const ctx = await fresh();
    const page = await ctx.newPage();
    await page.goto('/signin');
    await signInThroughForm(page, { email: ADMIN.email, password: 'not the password' });
    await page.waitForSelector('[data-testid=signin-error]');
    expect(await page.textContent('[data-testid=signin-error]')).toBe('wrong email or password');
    expect(new URL(page.url()).pathname).toBe('/signin');
    expect((await ctx.request.get('/api/v1/auth/session')).status()).toBe(401);
    await ctx.close();
  });

  it('keeps `next`: a signed-out visit to a run page returns there after sign-in', async () => {
    const ctx = await fresh();
    const page = await ctx.newPage();
    const target = `/p/${alpha.projectId}?q=alpha`;
    await page.goto(target);
    await page.waitForSelector('[data-testid=signin-form]');
    expect(new URL(page.url()).searchParams.get('next')).toBe(target);
    await signInThroughForm(page, ADMIN);
    await page.waitForSelector('[data-testid=run-row]');
    const url = new URL(page.url());
    expect(url.pathname + url.search).toBe(target);
    // an absolute `next` is not followed off-site
    await ctx.clearCookies();
    await page.goto('/signin?next=https://evil.example/x');
    await signInThroughForm(page, ADMIN);
    await page.waitForSelector('[data-testid=project-row]');
    expect(page.url()).toBe(`${server.url}/`);
    await ctx.close();
  });

  it('shortcuts: ? opens the help, g p goes to the projects, / focuses the filter; sign out ends the session', async () => {
    const ctx = await fresh();
    const page = await ctx.newPage();
    await page.goto(`/signin?next=${encodeURIComponent(`/p/${alpha.projectId}`)}`);
    await signInThroughForm(page, ADMIN);
    await page.waitForSelector('[data-testid=run-row]');
    await page.keyboard.press('?');
    await page.waitForSelector('[data-testid=shortcuts-help]', { state: 'visible' });
    await page.keyboard.press('Escape');
    await page.waitForSelector('[data-testid=shortcuts-help]', { state: 'detached' });
    await page.keyboard.press('/');
    expect(await page.evaluate(() => document.activeElement?.getAttribute('data-testid'))).toBe('runs-filter');
    await page.keyboard.press('Escape');
    await page.keyboard.press('g');
    await page.keyboard.press('p');
    await page.waitForSelector('[data-testid=project-row]');
    expect(new URL(page.url()).pathname).toBe('/');
    await page.click('[data-testid=user-menu]');
    await page.click('[data-testid=sign-out]');
    await page.waitForSelector('[data-testid=signin-form]');
    expect((await ctx.request.get('/api/v1/auth/session')).status()).toBe(401);
    await ctx.close();
  });

  it('a one-time sign-in link (team created without --password) signs in directly, once', async () => {
    const team = (await createTeam(server.dataDir, 'link-team', server.env)) as Awaited<ReturnType<typeof createTeam>> & { sign_in_url?: string };
    expect(team.sign_in_url).toMatch(/\/signin\?token=/);
    const ctx = await fresh();
    const page = await ctx.newPage();
    await page.goto(`/signin?token=${encodeURIComponent(tokenOf(team.sign_in_url!))}`);
    await page.waitForSelector('[data-testid=redeem-form]');
    await page.click('button[type=submit]');
    await page.waitForSelector('[data-testid=team-name]');
    expect(await page.textContent('[data-testid=team-name]')).toBe('link-team');
    // the link worked once
    const again = await fresh();
    const p2 = await again.newPage();
    await p2.goto(`/signin?token=${encodeURIComponent(tokenOf(team.sign_in_url!))}`);
    await p2.click('button[type=submit]');
    await p2.waitForSelector('[data-testid=signin-error]');
    expect(await p2.textContent('[data-testid=signin-error]')).toContain('already used');
    await again.close();
    await ctx.close();
  });

  it("a user of another team opening team A's project and run URLs sees not-found and none of A's names", async () => {
    await createTeam(server.dataDir, 'team-b', server.env, B);
    const ctx = await fresh();
    const page = await ctx.newPage();
    await page.goto('/signin');
    await signInThroughForm(page, B);
    await page.waitForSelector('[data-testid=team-name]');
    expect(await page.textContent('[data-testid=team-name]')).toBe('team-b');
    const runId = alpha.ids.get('alpha-secret-run')!;
    for (const url of [`/p/${alpha.projectId}`, `/p/${alpha.projectId}/runs/${runId}`, `/p/${alpha.projectId}/hypotheses`, `/p/${alpha.projectId}/compare?runs=${runId}`]) {
      await page.goto(url);
      await page.waitForSelector('[data-testid=not-found]', { timeout: 20_000 });
      await page.waitForLoadState('networkidle');
      const text = (await page.textContent('body')) ?? '';
      expect(text).not.toMatch(/alpha-secret/);
    }
    // team B's own project list is empty, without A's project
    await page.goto('/');
    await page.waitForSelector('.state-empty');
    expect((await page.textContent('body')) ?? '').not.toMatch(/alpha-secret/);

    // once team A's admin adds B, B has two teams and switches to A from the top bar
    await server.api('POST', '/members', { email: B.email, role: 'viewer' });
    await page.reload();
    await page.waitForSelector('[data-testid=team-switch]');
    expect(await page.$$eval('[data-testid=team-switch] option', (o) => o.map((x) => x.textContent))).toEqual(['team-b (admin)', 'team-123 (viewer)']);
    await page.selectOption('[data-testid=team-switch]', server.team.team_id);
    await page.waitForSelector('[data-testid=project-row]');
    expect(await page.$$eval('[data-testid=project-row] a.strong', (a) => a.map((x) => x.textContent))).toEqual(['alpha-secret-project']);
    expect(await page.$('[data-testid=admin-link]')).toBeNull();
    await ctx.close();
  });
});
