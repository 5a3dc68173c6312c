import { timingSafeEqual } from 'node:crypto';
import { z } from 'zod';
import { BackupRequest, BackupSummary, TeamCreate, TeamCreated, UserPasswordSet } from '@assay/contracts';
import { HttpError } from '../errors.ts';
import { backupSummary, takeBackup } from '../services/backup.ts';
import { setPasswordByEmail } from '../services/sessions.ts';
import { createTeam } from '../services/teams.ts';
import { doctorRoute } from './doctor.ts';
import { errors, type Api, type RouteDeps } from './types.ts';

/**
 * Local administration for the `assay` CLI while a server holds the embedded stores (PGlite and
 * chDB can only be opened by one process). Authenticated by the random token the server writes to
 * `<data-dir>/server.json` (mode 0600) — whoever can read the data dir already owns the data.
 */
export function adminRoutes(app: Api, { ctx, auth }: RouteDeps, adminToken: string): void {
  const expected = Buffer.from(adminToken);
  const checkToken = (authorization: string | undefined) => {
    const given = Buffer.from(/^Bearer\s+(\S+)$/i.exec(authorization ?? '')?.[1] ?? '');
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) throw new HttpError(401, 'This route needs the local admin token from the server data directory');
  };
  doctorRoute(app, { ctx, auth }, checkToken);
  app.post('/admin/teams', {
    config: { public: true },
    schema: {
      tags: ['admin'],
      summary: 'Create a team with an admin user and key (local admin token, used by `assay team create`)',
      description: 'With `password` the admin can sign in at once; without, the answer carries `sign_in_url` (one-time, 24 h).',
      body: TeamCreate,
      response: { 201: TeamCreated, ...errors(403, 409) },
    },
  }, async (req, reply) => {
    checkToken(req.headers.authorization);
    return reply.code(201).send(await createTeam(ctx.pg.db, req.body.name, req.body.email, { password: req.body.password, publicUrl: ctx.config.publicUrl }));
  });

  app.put('/admin/users/password', {
    config: { public: true },
    schema: {
      tags: ['admin'],
      summary: "Set a user's password (local admin token, used by `assay user password`)",
      description: 'The way back in after a forgotten password. Ends every session of the user.',
      body: UserPasswordSet,
      response: { 200: z.object({ user_id: z.string().uuid() }), ...errors(403) },
    },
  }, async (req) => {
    checkToken(req.headers.authorization);
    const done = await setPasswordByEmail(ctx, req.body.email, req.body.password);
    auth.invalidate();
    return done;
  });

  app.post('/admin/backup', {
    config: { public: true },
    schema: {
      tags: ['admin'],
      summary: 'Back up the embedded stores into a directory (local admin token, used by `assay backup`)',
      description:
        'A consistent snapshot of PGlite, chDB and the artifacts while serving: metric inserts wait (typically well under a second) ' +
        'while the metadata is dumped and the ClickHouse parts are frozen. Writes `manifest.json` last. 409 for server stores ' +
        '(use pg_dump and ClickHouse BACKUP) or a non-empty directory. See docs/operations.md.',
      body: BackupRequest,
      response: { 200: BackupSummary, ...errors(400, 409) },
    },
  }, async (req) => {
    checkToken(req.headers.authorization);
    return backupSummary(req.body.dir, await takeBackup(ctx, req.body.dir));
  });
}
