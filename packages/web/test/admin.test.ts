/**
 * The admin page in real Chromium: invite a member with a role (the invite link redeemed in a
 * fresh browser sets the password), change a role, remove a member, create an API key (shown
 * once, works) and revoke it (stops working). A viewer sees no Admin link and /admin is not found.
 */
import { describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { screenshot, useSignedInBrowser } from './browser.ts';
import { call, signInThroughForm, tokenOf } from './pages-helpers.ts';

const VIEWER = { email: 'vic@example.com', password: 'viewer passphrase 1' };

interface Member {
  user_id: string;
  email: string;
  role: string;
}
const members = async () => (await ui.server.api<{ items: Member[] }>('GET', '/members')).items;

async function invite(page: Page, email: string, role: string): Promise<string> {
  await page.fill('[data-testid=invite-form] input[type=email]', email);
  await page.selectOption('[data-testid=invite-form] select', role);
  await page.click('[data-testid=invite-form] button[type=submit]');
  await page.waitForSelector('[data-testid=invite-url]');
  return page.inputValue('[data-testid=invite-url]');
}

const ui = useSignedInBrowser();

describe('admin page', () => {
  it('invites a viewer, who sets a password through the link, sees no Admin link and gets not-found at /admin', async () => {
    const page = await ui.context.newPage();
    await page.goto('/admin');
    await page.waitForSelector('[data-testid=member-row]');
    const link = await invite(page, VIEWER.email, 'viewer');
    expect(link).toMatch(/\/signin\?token=/);
    await page.waitForSelector(`[data-testid=member-row][data-email="${VIEWER.email}"]`);
    expect((await members()).find((m) => m.email === VIEWER.email)?.role).toBe('viewer');
    await screenshot(page, 'admin');

    const ctx = await ui.browser.newContext({ baseURL: ui.server.url, viewport: { width: 1400, height: 900 } });
    const vp = await ctx.newPage();
    await vp.goto(`/signin?token=${encodeURIComponent(tokenOf(link))}`);
    // an invite needs a password: without one the server says so and the link stays usable
    await vp.click('button[type=submit]');
    await vp.waitForSelector('[data-testid=signin-error]');
    expect(await vp.textContent('[data-testid=signin-error]')).toBe('Choose a password (at least 8 characters) to accept this invite');
    await vp.fill('input[name=password]', VIEWER.password);
    await vp.fill('input[name=password2]', VIEWER.password);
    await vp.click('button[type=submit]');
    await vp.waitForSelector('[data-testid=team-name]');
    expect(await vp.$('[data-testid=admin-link]')).toBeNull();
    expect(await vp.$('button:has-text("New project")')).toBeNull();
    await vp.goto('/admin');
    await vp.waitForSelector('[data-testid=not-found]');
    expect(await vp.$('[data-testid=members]')).toBeNull();
    // and the password works in the form from now on
    await ctx.clearCookies();
    await vp.goto('/signin');
    await signInThroughForm(vp, VIEWER);
    await vp.waitForSelector('[data-testid=team-name]');
    expect(await vp.$('[data-testid=admin-link]')).toBeNull();
    // the user menu changes the password: the old one stops working, the new one signs in
    const NEW = 'a brand new passphrase';
    await vp.click('[data-testid=user-menu]');
    await vp.click('text=Change password');
    await vp.fill('input[autocomplete=current-password]', VIEWER.password);
    await vp.fill('.dialog input[autocomplete=new-password] >> nth=0', NEW);
    await vp.fill('.dialog input[autocomplete=new-password] >> nth=1', NEW);
    await vp.click('.dialog button[type=submit]');
    await vp.waitForSelector('text=Password changed');
    const login = (password: string) => ctx.request.post('/api/v1/auth/login', { data: { email: VIEWER.email, password } });
    expect([(await login(VIEWER.password)).status(), (await login(NEW)).status()]).toEqual([401, 200]);
    await ctx.close();
    await page.close();
  });

  it('changes a role and removes a member', async () => {
    const page = await ui.context.newPage();
    await page.goto('/admin');
    await invite(page, 'rita@example.com', 'researcher');
    const row = '[data-testid=member-row][data-email="rita@example.com"]';
    await page.waitForSelector(row);
    await page.selectOption(`${row} select`, 'admin');
    await expect.poll(async () => (await members()).find((m) => m.email === 'rita@example.com')?.role).toBe('admin');
    // the list refetched after the change shows the new role (it may land a moment after the write)
    await expect.poll(() => page.inputValue(`${row} select`)).toBe('admin');
    await page.reload();
    await page.waitForSelector(row);
    expect(await page.inputValue(`${row} select`)).toBe('admin');
    page.once('dialog', (d) => void d.accept());
    await page.click(`${row} button.danger`);
    await page.waitForSelector(row, { state: 'detached' });
    expect((await members()).some((m) => m.email === 'rita@example.com')).toBe(false);
    await page.close();
  });

  it('creates an API key shown once that works, and revokes it', async () => {
    const page = await ui.context.newPage();
    await page.goto('/admin');
    await page.waitForSelector('[data-testid=create-key-form]');
    await page.fill('[data-testid=create-key-form] input', 'ci-runner');
    await page.selectOption('[data-testid=create-key-form] select[aria-label="Key role"]', 'viewer');
    await page.click('[data-testid=create-key-form] button[type=submit]');
    await page.waitForSelector('[data-testid=new-key-value]');
    const key = await page.inputValue('[data-testid=new-key-value]');
    const me = await call<{ role: string }>(ui.server, key, 'GET', '/me');
    expect([me.status, me.body.role]).toEqual([200, 'viewer']);
    const row = page.locator('[data-testid=key-row]', { hasText: 'ci-runner' });
    await row.waitFor();
    expect(await row.locator('td').nth(2).textContent()).toBe('viewer');
    page.once('dialog', (d) => void d.accept());
    await row.locator('button.danger').click();
    await row.waitFor({ state: 'detached' }); // revoked keys are hidden unless asked for
    expect((await call(ui.server, key, 'GET', '/me')).status).toBe(401);
    await page.check('text=show revoked keys');
    await page.locator('[data-testid=key-row].revoked', { hasText: 'ci-runner' }).waitFor();
    await page.close();
  });
});
