import type { SessionInfo } from '@assay/contracts';
import type { AppContext } from '../context.ts';
import { HttpError, notFound } from '../errors.ts';
import type { Db } from '../stores/postgres/db.ts';
import * as repo from '../stores/postgres/repos/sessions.ts';
import { isUuid, type Tenant } from '../stores/postgres/tenant.ts';
import type { SignInTokenKind } from '../stores/postgres/schema.ts';
import { broadcastAuthInvalidation, SESSION_IDLE_MS, SESSION_MAX_MS, type Authenticator } from './auth.ts';
import { dummyVerify, hashPassword, randomToken, sha256Hex, verifyPassword } from './passwords.ts';

/** Sign-in, sessions, one-time links and passwords for browsers (routes/auth.ts). */

const WRONG = 'wrong email or password';
export const INVITE_TTL_MS = 7 * 24 * 3600_000;
export const SIGN_IN_LINK_TTL_MS = 24 * 3600_000;

type Ctx = Pick<AppContext, 'pg' | 'config'>;
export interface NewSession {
  body: SessionInfo;
  /** The cookie value; only its SHA-256 is stored. */
  token: string;
}

type UserTeam = Awaited<ReturnType<typeof repo.listUserTeams>>[number];
const teamDto = (t: UserTeam) => ({ team_id: t.teamId, team_name: t.teamName, role: t.role });

/** A team of the user by id or name; 404 for anything else (another team looks like no team). */
function pickTeam(teams: UserTeam[], team: string | undefined): UserTeam {
  if (team === undefined) {
    if (!teams[0]) throw new HttpError(403, 'You are not a member of any team');
    return teams[0];
  }
  const t = teams.find((x) => (isUuid(team) && x.teamId === team.toLowerCase()) || x.teamName === team);
  if (!t) throw notFound('Team');
  return t;
}

async function startSession(ctx: Ctx, user: { id: string; email: string; name: string | null }, teams: UserTeam[], team: UserTeam): Promise<NewSession> {
  const token = randomToken();
  const csrf = randomToken();
  const now = Date.now();
  // opportunistic clean-up: sign-ins are rare, dead sessions would otherwise only grow
  await repo.deleteDeadSessions(ctx.pg.db, new Date(now), SESSION_IDLE_MS);
  await repo.insertSession(ctx.pg.db, { teamId: team.teamId, userId: user.id }, { tokenHash: sha256Hex(token), csrfToken: csrf, expiresAt: new Date(now + SESSION_MAX_MS) });
  return {
    token,
    body: { user_id: user.id, email: user.email, name: user.name, team_id: team.teamId, team_name: team.teamName, role: team.role, csrf_token: csrf, teams: teams.map(teamDto) },
  };
}

export async function login(ctx: Ctx, body: { email: string; password: string; team?: string }): Promise<NewSession> {
  const user = await repo.findUserByEmail(ctx.pg.db, body.email);
  if (!user?.passwordHash) {
    await dummyVerify(body.password);
    throw new HttpError(401, WRONG);
  }
  if (!(await verifyPassword(user.passwordHash, body.password))) throw new HttpError(401, WRONG);
  const teams = await repo.listUserTeams(ctx.pg.db, user.id);
  return startSession(ctx, user, teams, pickTeam(teams, body.team));
}

/** The signed-in state for the UI; API keys and Basic get the same body without a CSRF token. */
export async function current(ctx: Ctx, tenant: Tenant): Promise<SessionInfo> {
  const user = await repo.getUser(ctx.pg.db, tenant.userId);
  const teams = await repo.listUserTeams(ctx.pg.db, tenant.userId);
  const team = teams.find((t) => t.teamId === tenant.teamId);
  if (!user || !team) throw new HttpError(401, 'Signed out or session expired: sign in again');
  const csrf = (await repo.getSessionCsrf(ctx.pg.db, tenant)) ?? null;
  return { user_id: user.id, email: user.email, name: user.name, team_id: team.teamId, team_name: team.teamName, role: tenant.role, csrf_token: csrf, teams: teams.map(teamDto) };
}

export async function logout(ctx: Ctx, tenant: Tenant): Promise<void> {
  await repo.deleteSession(ctx.pg.db, tenant);
}

/** A new session in another team of the same user; the old one ends. Keys are bound to their team. */
export async function switchTeam(ctx: Ctx, tenant: Tenant, team: string): Promise<NewSession> {
  const teams = await repo.listUserTeams(ctx.pg.db, tenant.userId);
  const target = pickTeam(teams, team);
  if (!tenant.sessionId) throw new HttpError(400, 'Switching teams needs a browser session; an API key or HTTP Basic sign-in is bound to its team');
  const user = await repo.getUser(ctx.pg.db, tenant.userId);
  await repo.deleteSession(ctx.pg.db, tenant);
  return startSession(ctx, user!, teams, target);
}

/** A one-time link for a member of the tenant's team: `<public url>/signin?token=…`. */
export async function createSignInLink(db: Db, publicUrl: string, tenant: Pick<Tenant, 'teamId'>, userId: string, kind: SignInTokenKind): Promise<string> {
  const token = randomToken();
  const ttl = kind === 'invite' ? INVITE_TTL_MS : SIGN_IN_LINK_TTL_MS;
  await repo.insertSignInToken(db, tenant, { userId, tokenHash: sha256Hex(token), kind, expiresAt: new Date(Date.now() + ttl) });
  return `${publicUrl}/signin?token=${token}`;
}

export async function redeem(ctx: Ctx, auth: Authenticator, body: { token: string; password?: string }): Promise<NewSession> {
  const row = await repo.findSignInToken(ctx.pg.db, sha256Hex(body.token));
  const now = new Date();
  if (!row) throw new HttpError(400, 'This sign-in link is not valid (mistyped, or the member was removed since)');
  if (row.usedAt) throw new HttpError(400, 'This sign-in link was already used; links work once — sign in with your password or ask an admin for a new link');
  if (row.expiresAt <= now) throw new HttpError(400, 'This sign-in link has expired; ask an admin for a new one');
  const user = await repo.getUser(ctx.pg.db, row.userId);
  const teams = await repo.listUserTeams(ctx.pg.db, row.userId);
  const team = teams.find((t) => t.teamId === row.teamId);
  if (!user || !team) throw new HttpError(400, 'This sign-in link is not valid (the member was removed since)');
  if (row.kind === 'invite' && !user.passwordHash && !body.password) {
    throw new HttpError(400, 'Choose a password (at least 8 characters) to accept this invite');
  }
  // hash before consuming, so a failure here leaves the link usable
  const newHash = body.password ? await hashPassword(body.password) : undefined;
  if (!(await repo.consumeSignInToken(ctx.pg.db, { teamId: row.teamId }, row.id, now))) {
    throw new HttpError(400, 'This sign-in link was already used; links work once — sign in with your password or ask an admin for a new link');
  }
  if (newHash) {
    await repo.setPasswordHash(ctx.pg.db, user.id, newHash);
    await repo.deleteUserSessions(ctx.pg.db, user.id, null);
    auth.invalidate();
  }
  return startSession(ctx, user, teams, team);
}

/** Needs the session (not a key: a key must not turn into the user's full sign-in) and the current password if one is set. */
export async function changePassword(ctx: Ctx, auth: Authenticator, tenant: Tenant, body: { current_password?: string; new_password: string }): Promise<void> {
  if (!tenant.sessionId) throw new HttpError(400, 'Changing the password needs a browser session (sign in first); an API key cannot set its user\'s password');
  const user = await repo.getUser(ctx.pg.db, tenant.userId);
  if (!user) throw new HttpError(401, 'Signed out or session expired: sign in again');
  if (user.passwordHash) {
    if (!body.current_password) throw new HttpError(400, 'current_password is required to change a password');
    if (!(await verifyPassword(user.passwordHash, body.current_password))) throw new HttpError(403, 'current_password is wrong');
  }
  await repo.setPasswordHash(ctx.pg.db, user.id, await hashPassword(body.new_password));
  // every other session of the user (in every team) ends; cached Basic sign-ins with the old password too
  await repo.deleteUserSessions(ctx.pg.db, user.id, tenant.sessionId);
  auth.invalidate();
}

/**
 * `assay user password <email>`: the operator sets a password; every session of the user ends.
 * `redisUrl` (the CLI writing PostgreSQL itself): running replicas drop cached Basic sign-ins too.
 */
export async function setPasswordByEmail(ctx: Pick<AppContext, 'pg'>, email: string, password: string, redisUrl?: string): Promise<{ user_id: string }> {
  const user = await repo.findUserByEmail(ctx.pg.db, email);
  if (!user) throw notFound('User');
  await repo.setPasswordHash(ctx.pg.db, user.id, await hashPassword(password));
  await repo.deleteUserSessions(ctx.pg.db, user.id, null);
  if (redisUrl) await broadcastAuthInvalidation(redisUrl);
  return { user_id: user.id };
}
