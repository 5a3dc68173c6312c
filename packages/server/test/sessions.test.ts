import { randomUUID } from 'node:crypto';
import { sql } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import { buildApp } from '../src/app.ts';
import { apiClient, useTestServer, type Res } from './helpers.ts';

/**
 * Browser sign-in through the public API: password login, the session cookie and its flags, CSRF
 * on cookie writes, logout, one-time links and invites, password changes, removal, HTTP Basic,
 * team isolation for sessions, and hostile input on the sign-in bodies.
 */
const t = useTestServer('sessions', { ASSAY_LOGIN_RATE_LIMIT_PER_MINUTE: '0', ASSAY_PUBLIC_URL: 'https://assay.example.com/' });
const PASSWORD = 'correct horse battery staple';

/** A browser: keeps the session cookie, sends X-CSRF-Token when it has one. */
function browser() {
  const b = { cookie: '', csrf: '' as string | null, last: undefined as Res | undefined };
  const call = async (method: string, url: string, body?: unknown, opts: { csrf?: boolean } = {}): Promise<Res> => {
    const headers: Record<string, string> = {};
    if (b.cookie) headers.cookie = `assay_session=${b.cookie}`;
    if (b.csrf && opts.csrf !== false) headers['x-csrf-token'] = b.csrf;
    const r = await apiClient(t.srv.app, undefined).call(method, url, body, headers);
    const set = [r.headers['set-cookie'] ?? []].flat() as string[];
    for (const c of set) {
      const m = /^assay_session=([^;]*)/.exec(c);
      if (m) b.cookie = m[1];
    }
    if (r.status === 200 && r.body && 'csrf_token' in r.body) b.csrf = r.body.csrf_token;
    b.last = r;
    return r;
  };
  return Object.assign(b, {
    call,
    get: (url: string) => call('GET', url),
    post: (url: string, body: unknown = {}, opts?: { csrf?: boolean }) => call('POST', url, body, opts),
    put: (url: string, body: unknown, opts?: { csrf?: boolean }) => call('PUT', url, body, opts),
    login: (email: string, password: string, team?: string) => call('POST', '/auth/login', { email, password, ...(team ? { team } : {}) }),
  });
}

/** A team whose admin has an email and a password, made through the local admin route like `assay team create --password`. */
async function teamWithPassword(password: string | null = PASSWORD) {
  const name = `s-${randomUUID().slice(0, 8)}`;
  const email = `${name}@example.com`;
  const r = await apiClient(t.srv.app, t.srv.adminToken).post('/admin/teams', { name, email, ...(password ? { password } : {}) });
  expect(r.status).toBe(201);
  return { name, email, teamId: r.body.team_id as string, userId: r.body.user_id as string, api: apiClient(t.srv.app, r.body.api_key), signInUrl: r.body.sign_in_url as string | undefined };
}

const tokenOf = (url: string) => new URL(url).searchParams.get('token')!;

describe('password sign-in', () => {
  it('login sets an HttpOnly SameSite=Lax cookie and returns the signed-in state', async () => {
    const team = await teamWithPassword();
    const b = browser();
    const r = await b.login(team.email, PASSWORD);
    expect(r.status).toBe(200);
    expect(r.body).toEqual({
      user_id: team.userId, email: team.email, name: null, team_id: team.teamId, team_name: team.name, role: 'admin',
      csrf_token: expect.stringMatching(/^[A-Za-z0-9_-]{43}$/), teams: [{ team_id: team.teamId, team_name: team.name, role: 'admin' }],
    });
    expect(b.cookie).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(r.headers['set-cookie']).toBe(`assay_session=${b.cookie}; Max-Age=2592000; Path=/; HttpOnly; SameSite=Lax`);
    // the token is stored only as its SHA-256
    const stored = await t.srv.ctx.pg.db.execute(sql`select token_hash from sessions where user_id = ${team.userId}`);
    const rows = ((stored as any).rows ?? stored) as { token_hash: string }[];
    expect(rows.map((x) => x.token_hash)).toEqual([(await import('node:crypto')).createHash('sha256').update(b.cookie).digest('hex')]);
    // the email is matched without regard to case
    expect((await browser().login(team.email.toUpperCase(), PASSWORD)).status).toBe(200);
  });

  it('a wrong password and an unknown email get the same 401, and both run the password hash', async () => {
    const team = await teamWithPassword();
    const timed = async (email: string) => {
      const start = performance.now();
      const r = await browser().login(email, 'not the password');
      return { r, ms: performance.now() - start };
    };
    const wrong = await timed(team.email);
    const unknown = await timed(`nobody-${randomUUID()}@example.com`);
    const noPassword = await timed((await teamWithPassword(null)).email);
    for (const x of [wrong, unknown, noPassword]) {
      expect([x.r.status, x.r.body]).toEqual([401, { detail: 'wrong email or password' }]);
      expect(x.r.headers['set-cookie']).toBeUndefined();
      // an argon2id verify at 19 MiB takes ~20 ms here; a bare lookup well under 5 ms
      expect(x.ms).toBeGreaterThan(8);
    }
  });

  it('ENVIRONMENT=production marks the cookie Secure (TLS ends at a proxy in front)', async () => {
    const team = await teamWithPassword();
    const prod = await buildApp({ ...t.srv.ctx, config: { ...t.srv.ctx.config, ENVIRONMENT: 'production' } });
    try {
      const r = await apiClient(prod.app, undefined).post('/auth/login', { email: team.email, password: PASSWORD });
      expect(r.status).toBe(200);
      expect(r.headers['set-cookie']).toMatch(/^assay_session=[A-Za-z0-9_-]{43}; Max-Age=2592000; Path=\/; HttpOnly; Secure; SameSite=Lax$/);
    } finally {
      await prod.app.close();
    }
  });

  it('the session reaches /me and /auth/session; another team of the same server is 404', async () => {
    const team = await teamWithPassword();
    const other = await teamWithPassword();
    const { body: project } = await other.api.post('/projects', { name: 'other-secret' });
    const b = browser();
    const login = await b.login(team.email, PASSWORD);
    const me = await b.get('/me');
    expect(me.body).toEqual({ team_id: team.teamId, team_name: team.name, user_id: team.userId, email: team.email, role: 'admin', key_id: null });
    const s = await b.get('/auth/session');
    expect(s.body).toEqual(login.body);
    expect((await b.get(`/projects/${project.id}`)).status).toBe(404);
    expect((await b.get('/projects/other-secret')).status).toBe(404);
    expect((await b.call('PATCH', `/projects/${project.id}`, { description: 'x' })).status).toBe(404);
  });

  it('a cookie write without the CSRF token is 403 and writes nothing; with it 201', async () => {
    const team = await teamWithPassword();
    const b = browser();
    await b.login(team.email, PASSWORD);
    const csrf = b.csrf!;
    const missing = await b.post('/projects', { name: 'no-csrf' }, { csrf: false });
    expect(missing.status).toBe(403);
    expect(missing.body.detail).toMatch(/^missing or wrong X-CSRF-Token/);
    b.csrf = csrf.slice(0, -1) + (csrf.endsWith('A') ? 'B' : 'A');
    expect((await b.post('/projects', { name: 'wrong-csrf' })).status).toBe(403);
    b.csrf = csrf;
    expect((await team.api.get('/projects')).body.items).toEqual([]);
    const ok = await b.post('/projects', { name: 'with-csrf' });
    expect([ok.status, ok.body.name]).toEqual([201, 'with-csrf']);
    // reads need no token; an API key needs none either
    expect((await b.call('GET', '/projects', undefined, { csrf: false })).body.items.map((p: any) => p.name)).toEqual(['with-csrf']);
    expect((await team.api.post('/projects', { name: 'by-key' })).status).toBe(201);
  });

  it('logout ends the session server-side and clears the cookie', async () => {
    const team = await teamWithPassword();
    const b = browser();
    await b.login(team.email, PASSWORD);
    const cookie = b.cookie;
    expect((await b.post('/auth/logout', undefined, { csrf: false })).status).toBe(403);
    const out = await b.post('/auth/logout');
    expect(out.status).toBe(204);
    expect(out.headers['set-cookie']).toBe('assay_session=; Max-Age=0; Path=/; HttpOnly; SameSite=Lax');
    b.cookie = cookie; // a stolen copy of the cookie is dead too
    const again = await b.get('/me');
    expect([again.status, again.body.detail]).toEqual([401, 'Signed out or session expired: sign in again']);
  });

  it('sessions expire: idle past 7 days or past their 30-day end', async () => {
    const team = await teamWithPassword();
    const idle = browser();
    await idle.login(team.email, PASSWORD);
    const old = browser();
    await old.login(team.email, PASSWORD);
    const db = t.srv.ctx.pg.db;
    await db.execute(sql`update sessions set last_seen_at = now() - interval '7 days 1 minute' where csrf_token = ${idle.csrf}`);
    await db.execute(sql`update sessions set expires_at = now() - interval '1 second' where csrf_token = ${old.csrf}`);
    expect((await idle.get('/me')).status).toBe(401);
    expect((await old.get('/me')).status).toBe(401);
    await db.execute(sql`update sessions set last_seen_at = now() - interval '6 days' where user_id = ${team.userId}`);
    const fresh = browser();
    await fresh.login(team.email, PASSWORD);
    expect((await fresh.get('/me')).status).toBe(200);
  });

  it('a viewer session cannot write (403), whatever the CSRF token', async () => {
    const team = await teamWithPassword();
    const admin = browser();
    await admin.login(team.email, PASSWORD);
    const email = `viewer-${randomUUID().slice(0, 6)}@example.com`;
    const added = await admin.post('/members', { email, role: 'viewer' });
    const viewer = browser();
    expect((await viewer.post('/auth/redeem', { token: tokenOf(added.body.invite_url), password: 'viewer-password' })).status).toBe(200);
    expect(viewer.last!.body.role).toBe('viewer');
    expect((await viewer.post('/projects', { name: 'v' })).status).toBe(403);
    expect((await viewer.get('/projects')).status).toBe(200);
  });
});

describe('one-time links, invites, passwords', () => {
  it('team create without a password gives a sign-in link that works once and sets the cookie', async () => {
    const team = await teamWithPassword(null);
    expect(team.signInUrl).toMatch(/^https:\/\/assay\.example\.com\/signin\?token=[A-Za-z0-9_-]{43}$/);
    const b = browser();
    const r = await b.post('/auth/redeem', { token: tokenOf(team.signInUrl!) });
    expect([r.status, r.body.user_id, r.body.role]).toEqual([200, team.userId, 'admin']);
    expect((await b.get('/me')).status).toBe(200);
    const twice = await browser().post('/auth/redeem', { token: tokenOf(team.signInUrl!) });
    expect([twice.status, twice.body.detail]).toEqual([400, expect.stringMatching(/^This sign-in link was already used/)]);
    expect((await browser().post('/auth/redeem', { token: 'x'.repeat(43) })).status).toBe(400);
    // no password yet: the signed-in admin sets one without a current password, then signs in with it
    expect((await b.put('/auth/password', { new_password: 'short' })).status).toBe(422);
    expect((await b.put('/auth/password', { new_password: PASSWORD })).status).toBe(204);
    expect((await browser().login(team.email, PASSWORD)).status).toBe(200);
  });

  it('an expired link is a 400 that says so', async () => {
    const team = await teamWithPassword(null);
    await t.srv.ctx.pg.db.execute(sql`update sign_in_tokens set expires_at = now() - interval '1 second' where user_id = ${team.userId}`);
    const r = await browser().post('/auth/redeem', { token: tokenOf(team.signInUrl!) });
    expect([r.status, r.body.detail]).toEqual([400, 'This sign-in link has expired; ask an admin for a new one']);
  });

  it('invite: a new member gets a link, must choose a password, then signs in with it', async () => {
    const team = await teamWithPassword();
    const admin = browser();
    await admin.login(team.email, PASSWORD);
    const email = `new-${randomUUID().slice(0, 6)}@example.com`;
    const added = await admin.post('/members', { email, role: 'researcher', name: 'New Person' });
    expect(added.status).toBe(201);
    expect(added.body).toEqual({ user_id: expect.any(String), email, name: 'New Person', role: 'researcher', created_at: expect.any(String), invite_url: expect.stringMatching(/^https:\/\/assay\.example\.com\/signin\?token=/) });
    const token = tokenOf(added.body.invite_url);
    const b = browser();
    const noPassword = await b.post('/auth/redeem', { token });
    expect([noPassword.status, noPassword.body.detail]).toEqual([400, 'Choose a password (at least 8 characters) to accept this invite']);
    expect((await b.post('/auth/redeem', { token, password: 'short' })).status).toBe(422);
    // the refusals above did not use the link up
    const ok = await b.post('/auth/redeem', { token, password: 'new-person-password' });
    expect([ok.status, ok.body.email, ok.body.role, ok.body.team_id]).toEqual([200, email, 'researcher', team.teamId]);
    expect((await b.post('/projects', { name: 'by-invitee' })).status).toBe(201);
    expect((await browser().login(email, 'new-person-password')).status).toBe(200);
    // a member who has a password gets no link
    const again = await admin.post('/members', { email, role: 'viewer' });
    expect([again.status, again.body.invite_url, again.body.role]).toEqual([201, null, 'viewer']);
  });

  it('a password change needs the current password and ends the other sessions', async () => {
    const team = await teamWithPassword();
    const one = browser();
    const two = browser();
    await one.login(team.email, PASSWORD);
    await two.login(team.email, PASSWORD);
    expect((await one.put('/auth/password', { new_password: 'a new password' })).status).toBe(400);
    expect((await one.put('/auth/password', { current_password: 'wrong password', new_password: 'a new password' })).status).toBe(403);
    expect((await two.get('/me')).status).toBe(200);
    expect((await one.put('/auth/password', { current_password: PASSWORD, new_password: 'a new password' })).status).toBe(204);
    expect((await two.get('/me')).status).toBe(401);
    expect((await one.get('/me')).status).toBe(200);
    expect((await browser().login(team.email, PASSWORD)).status).toBe(401);
    expect((await browser().login(team.email, 'a new password')).status).toBe(200);
    // an API key cannot set its user's password
    const byKey = await team.api.put('/auth/password', { new_password: 'set by a key!' });
    expect([byKey.status, byKey.body.detail]).toEqual([400, expect.stringMatching(/needs a browser session/)]);
  });

  it("a removed member's session, key-less, stops at once", async () => {
    const team = await teamWithPassword();
    const admin = browser();
    await admin.login(team.email, PASSWORD);
    const added = await admin.post('/members', { email: `gone-${randomUUID().slice(0, 6)}@example.com`, role: 'researcher' });
    const member = browser();
    expect((await member.post('/auth/redeem', { token: tokenOf(added.body.invite_url), password: 'member-password' })).status).toBe(200);
    expect((await member.get('/projects')).status).toBe(200);
    expect((await admin.call('DELETE', `/members/${added.body.user_id}`)).status).toBe(204);
    expect((await member.get('/projects')).status).toBe(401);
    expect((await browser().login(added.body.email, 'member-password')).status).toBe(403);
  });

  it('switch-team moves the session to another team of the user; other teams are 404', async () => {
    const a = await teamWithPassword();
    const b = await teamWithPassword();
    // a's admin becomes a viewer in b
    expect((await b.api.post('/members', { email: a.email, role: 'viewer' })).body.invite_url).toBeNull();
    const br = browser();
    const login = await br.login(a.email, PASSWORD);
    expect(login.body.teams.map((x: any) => [x.team_name, x.role])).toEqual([[a.name, 'admin'], [b.name, 'viewer']]);
    const old = br.cookie;
    const moved = await br.post('/auth/switch-team', { team: b.name });
    expect([moved.status, moved.body.team_id, moved.body.role]).toEqual([200, b.teamId, 'viewer']);
    expect(br.cookie).not.toBe(old);
    expect((await br.get('/me')).body.team_id).toBe(b.teamId);
    expect((await br.post('/auth/switch-team', { team: randomUUID() })).status).toBe(404);
    expect((await br.post('/auth/switch-team', { team: 'no-such-team' })).status).toBe(404);
    const stale = browser();
    stale.cookie = old;
    expect((await stale.get('/me')).status).toBe(401);
    // login straight into a named team, by id
    const direct = await browser().login(a.email, PASSWORD, b.teamId);
    expect([direct.status, direct.body.team_id]).toEqual([200, b.teamId]);
  });
});

describe('HTTP Basic (MLflow clients)', () => {
  const basic = (email: string, password: string) => ({ authorization: `Basic ${Buffer.from(`${email}:${password}`).toString('base64')}` });

  it('email:password authenticates; a wrong one is 401; the MLflow API answers', async () => {
    const team = await teamWithPassword();
    const me = await apiClient(t.srv.app, undefined).call('GET', '/me', undefined, basic(team.email, PASSWORD));
    expect([me.status, me.body.team_id, me.body.key_id]).toEqual([200, team.teamId, null]);
    const wrong = await apiClient(t.srv.app, undefined).call('GET', '/me', undefined, basic(team.email, 'nope'));
    expect([wrong.status, wrong.body.detail]).toEqual([401, 'wrong email or password']);
    expect(wrong.headers['www-authenticate']).toBeUndefined();
    const unknown = await apiClient(t.srv.app, undefined).call('GET', '/me', undefined, basic('nobody@example.com', PASSWORD));
    expect(unknown.status).toBe(401);
    // an API key as the password (any username) is that key, as MLflow clients configure it
    const viaKey = await apiClient(t.srv.app, undefined).call('GET', '/me', undefined, basic('anyone', t.team.apiKey));
    expect([viaKey.status, viaKey.body.team_id, viaKey.body.key_id]).toEqual([200, t.team.teamId, expect.any(String)]);
    const created = await apiClient(t.srv.app, undefined).call('POST', '/api/2.0/mlflow/experiments/create', { name: 'via-basic' }, basic(team.email, PASSWORD));
    expect(created.status).toBe(200);
    expect((await team.api.get('/projects/via-basic')).status).toBe(200);
    // the verified header is cached; a password change drops the cache
    const b = browser();
    await b.login(team.email, PASSWORD);
    await b.put('/auth/password', { current_password: PASSWORD, new_password: 'changed password' });
    expect((await apiClient(t.srv.app, undefined).call('GET', '/me', undefined, basic(team.email, PASSWORD))).status).toBe(401);
    expect((await apiClient(t.srv.app, undefined).call('GET', '/me', undefined, basic(team.email, 'changed password'))).status).toBe(200);
  });
});

describe('hostile sign-in input', () => {
  const HOSTILE = ['nul\u0000byte', 'lone \ud800 high', 'lone \udfff low', 'x'.repeat(10 * 1024 * 1024), ''];

  it('NUL, unpaired surrogates and 10 MB strings are a 4xx on every sign-in body field, never a 5xx', async () => {
    const team = await teamWithPassword();
    const b = browser();
    await b.login(team.email, PASSWORD);
    const bad: string[] = [];
    for (const v of HOSTILE) {
      const cases: [string, string, Record<string, unknown>][] = [
        ['POST', '/auth/login', { email: v, password: PASSWORD }],
        ['POST', '/auth/login', { email: team.email, password: v }],
        ['POST', '/auth/login', { email: team.email, password: PASSWORD, team: v }],
        ['POST', '/auth/redeem', { token: v }],
        ['POST', '/auth/redeem', { token: 'x'.repeat(43), password: v }],
        ['POST', '/auth/switch-team', { team: v }],
        ['PUT', '/auth/password', { current_password: v, new_password: 'whatever-123' }],
        ['PUT', '/auth/password', { current_password: PASSWORD, new_password: v }],
      ];
      for (const [method, url, body] of cases) {
        const r = await b.call(method, url, body);
        if (r.status < 400 || r.status >= 500 || !r.body?.detail) bad.push(`${method} ${url} ${JSON.stringify(body).slice(0, 60)} → ${r.status}`);
      }
      const basic = await apiClient(t.srv.app, undefined).call('GET', '/me', undefined, { authorization: `Basic ${Buffer.from(`${v}:${v}`).toString('base64')}` });
      if (basic.status !== 401) bad.push(`basic ${v.slice(0, 20)} → ${basic.status}`);
    }
    expect(bad).toEqual([]);
    // none of it changed the password or ended the session
    expect((await b.get('/me')).status).toBe(200);
    expect((await browser().login(team.email, PASSWORD)).status).toBe(200);
  }, 120_000);
});
