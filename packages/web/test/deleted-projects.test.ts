/**
 * Deleted projects in real Chromium: a project deleted through MLflow's delete_experiment is gone
 * from the projects page, shows up behind "Show deleted", and Restore brings it (and its runs that
 * were active) back. A viewer sees the deleted list without a Restore button.
 */
import { describe, expect, it } from 'vitest';
import { screenshot, useSignedInBrowser } from './browser.ts';
import { seedProject, tokenOf } from './pages-helpers.ts';

const VIEWER = { email: 'vera@example.com', password: 'viewer passphrase 2' };

async function mlflow(path: string, body: unknown): Promise<number> {
  const r = await fetch(`${ui.server.url}/api/2.0/mlflow${path}`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${ui.server.apiKey}`, 'Content-Type': 'application/json' },
    body: JSON.stringify(body),
  });
  return r.status;
}

const ui = useSignedInBrowser();

describe('deleted projects', () => {
  it('are listed behind a toggle and restored with their active runs; a viewer gets no button', async () => {
    await seedProject(ui.server, 'keeper', [{ name: 'k1' }]);
    const { projectId, ids } = await seedProject(ui.server, 'binned', [{ name: 'active-run', metrics: { loss: [3, 2, 1] } }, { name: 'deleted-run' }]);
    expect(await mlflow('/runs/delete', { run_id: ids.get('deleted-run')!.replace(/-/g, '') })).toBe(200);
    expect(await mlflow('/experiments/delete', { experiment_id: projectId.replace(/-/g, '') })).toBe(200);

    const page = await ui.context.newPage();
    await page.goto('/');
    await page.waitForSelector('[data-testid=project-row]');
    const rows = async () => page.$$eval('[data-testid=project-row] a.strong', (as) => as.map((a) => a.textContent));
    expect(await rows()).toEqual(['keeper']);
    expect(await page.$('[data-testid=deleted-projects]')).toBeNull();

    // checked the moment it is clicked: the URL it is bound to updates synchronously (a transition
    // left it unchecked until the re-render committed, and page.check() failed in CI)
    expect(await page.$eval('[data-testid=show-deleted]', (el) => ((el as HTMLInputElement).click(), (el as HTMLInputElement).checked))).toBe(true);
    await page.waitForSelector('[data-testid=deleted-project-row][data-name=binned]');
    expect(await page.$$eval('[data-testid=deleted-project-row]', (rs) => rs.map((r) => r.getAttribute('data-name')))).toEqual(['binned']);
    await screenshot(page, 'projects-deleted');

    // a viewer: the same list, no Restore
    const m = await ui.server.api<{ invite_url: string }>('POST', '/members', { email: VIEWER.email, role: 'viewer' });
    const viewer = await ui.browser.newContext({ baseURL: ui.server.url, viewport: { width: 1400, height: 900 } });
    const redeemed = await viewer.request.post('/api/v1/auth/redeem', { data: { token: tokenOf(m.invite_url), password: VIEWER.password } });
    expect(redeemed.status()).toBe(200);
    const vp = await viewer.newPage();
    await vp.goto('/?deleted=1');
    await vp.waitForSelector('[data-testid=deleted-project-row][data-name=binned]');
    expect(await vp.$$('[data-testid=deleted-project-row] button')).toHaveLength(0);
    await viewer.close();

    await page.click('[data-testid=deleted-project-row][data-name=binned] button:has-text("Restore")');
    await page.waitForSelector('[data-testid=deleted-projects] >> text=No deleted projects.');
    await page.waitForFunction(() => document.querySelectorAll('[data-testid=project-row]').length === 2);
    expect((await rows()).sort()).toEqual(['binned', 'keeper']);
    const runs = await ui.server.api<{ items: { name: string }[] }>('GET', `/projects/${projectId}/experiments`);
    expect(runs.items.map((e) => e.name)).toEqual(['active-run']);
    await page.click('[data-testid=project-row] a.strong:has-text("binned")');
    await page.waitForSelector('text=active-run');
    expect(await page.$('text=deleted-run')).toBeNull();
  });
});
