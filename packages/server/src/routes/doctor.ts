import { DoctorReport } from '@assay/contracts';
import { doctorReport } from '../services/doctor.ts';
import { errors, type Api, type RouteDeps } from './types.ts';

/** `assay doctor` through the server that holds the embedded stores (the CLI cannot open them then). */
export function doctorRoute(app: Api, { ctx }: RouteDeps, checkToken: (authorization: string | undefined) => void): void {
  app.get('/admin/doctor', {
    config: { public: true },
    schema: {
      tags: ['admin'],
      summary: "The server's health as an operator sees it (local admin token, used by `assay doctor`)",
      description:
        'Versions, reachability and latency of PostgreSQL, ClickHouse and Redis, both stores\' migrations, pending metric batches, disk use of the data dir and warnings. ' +
        '200 also when a store is unreachable: `ok` and `stores[].reachable` say so.',
      response: { 200: DoctorReport, ...errors() },
    },
  }, async (req) => {
    checkToken(req.headers.authorization);
    return doctorReport({ config: ctx.config, pg: { store: ctx.pg }, ch: { store: ctx.ch }, via: 'server' });
  });
}
