import type { FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { LoginRequest, PasswordChange, RedeemRequest, SessionInfo, SwitchTeamRequest } from '@assay/contracts';
import { clearedSessionCookie, SESSION_COOKIE, SESSION_MAX_MS } from '../services/auth.ts';
import * as svc from '../services/sessions.ts';
import { errors, type Api, type RouteDeps } from './types.ts';

/**
 * Browser sign-in (docs/api.md "Authentication"). Login and redeem are public, each with a stricter
 * per-IP budget (ASSAY_LOGIN_RATE_LIMIT_PER_MINUTE) — a login attempt costs an argon2 verify; the rest
 * authenticate like every route (session cookie + X-CSRF-Token for writes, or an API key).
 */
export function authRoutes(app: Api, { ctx, auth }: RouteDeps): void {
  const tags = ['auth'];
  const perMinute = ctx.config.ASSAY_LOGIN_RATE_LIMIT_PER_MINUTE;
  // each of the two routes has its own budget per client IP, apart from the general per-IP one
  const signInLimit = (route: string) => ({
    rateLimit: { max: perMinute, keyGenerator: (req: FastifyRequest) => `${route}:${req.ip}`, allowList: () => perMinute === 0 },
    public: true,
  });

  const setSession = (req: FastifyRequest, reply: FastifyReply, s: svc.NewSession) => {
    // Secure whenever the browser reached us over https (ENVIRONMENT=production: TLS ends at a proxy)
    const secure = ctx.config.ENVIRONMENT === 'production' || req.protocol === 'https';
    return reply.setCookie(SESSION_COOKIE, s.token, { httpOnly: true, sameSite: 'lax', path: '/', secure, maxAge: SESSION_MAX_MS / 1000 }).send(s.body);
  };

  app.post('/auth/login', {
    config: signInLimit('login'),
    schema: {
      tags,
      summary: 'Sign in with email and password (sets the session cookie)',
      description:
        'Sets `assay_session` (HttpOnly, SameSite=Lax, Path=/; Secure over https or with ENVIRONMENT=production) and returns the ' +
        'signed-in state with `csrf_token`: send it as `X-CSRF-Token` on every write made with the cookie. A wrong email and a ' +
        'wrong password answer the same 401. Rate-limited per client IP (ASSAY_LOGIN_RATE_LIMIT_PER_MINUTE).',
      security: [],
      body: LoginRequest,
      response: { 200: SessionInfo, ...errors(400, 403) },
    },
  }, async (req, reply) => setSession(req, reply, await svc.login(ctx, req.body)));

  app.post('/auth/redeem', {
    config: signInLimit('redeem'),
    schema: {
      tags,
      summary: 'Redeem a one-time sign-in link or invite (sets the session cookie)',
      description:
        'The `token` of `/signin?token=…` from `assay team create` (24 h) or an invite (`POST /members`, 7 days). Works once. ' +
        'An invite of a user without a password needs `password` (at least 8 characters); given, it sets the password and ends the ' +
        'user\'s other sessions. 400 for a used, expired or unknown token.',
      security: [],
      body: RedeemRequest,
      response: { 200: SessionInfo, ...errors(400) },
    },
  }, async (req, reply) => setSession(req, reply, await svc.redeem(ctx, auth, req.body)));

  app.get('/auth/session', {
    schema: {
      tags,
      summary: 'The signed-in state (user, team, role, teams, csrf_token), or 401',
      description: 'What the UI reads on load to restore its state and its CSRF token. With an API key or HTTP Basic: the same body, `csrf_token` null.',
      response: { 200: SessionInfo, ...errors() },
    },
  }, (req) => svc.current(ctx, req.tenant));

  app.post('/auth/logout', {
    schema: {
      tags,
      summary: 'Sign out: ends the session server-side and clears the cookie',
      description: 'Needs `X-CSRF-Token` like every cookie write. With an API key it changes nothing (revoke keys with DELETE /api-keys/{key_id}).',
      response: { 204: z.null(), ...errors(403) },
    },
  }, async (req, reply) => {
    await svc.logout(ctx, req.tenant);
    return reply.header('Set-Cookie', clearedSessionCookie()).code(204).send(null);
  });

  app.post('/auth/switch-team', {
    schema: {
      tags,
      summary: 'Move the session to another team of the signed-in user',
      description: 'Ends this session and starts one in the named team (name or id) with a new cookie and CSRF token. 404 for a team you are not in; 400 with an API key (a key is bound to its team).',
      body: SwitchTeamRequest,
      response: { 200: SessionInfo, ...errors(400, 403) },
    },
  }, async (req, reply) => setSession(req, reply, await svc.switchTeam(ctx, req.tenant, req.body.team)));

  app.put('/auth/password', {
    schema: {
      tags,
      summary: 'Set or change the signed-in user\'s password',
      description: '`current_password` is required when a password is set (403 when wrong). Ends every other session of the user. Needs a browser session (400 with an API key: a key must not become its user\'s password).',
      body: PasswordChange,
      response: { 204: z.null(), ...errors(400, 403) },
    },
  }, async (req, reply) => {
    await svc.changePassword(ctx, auth, req.tenant, req.body);
    return reply.code(204).send(null);
  });
}
