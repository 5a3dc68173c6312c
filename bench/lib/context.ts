import type { Api } from './http.ts';
import type { Params } from './args.ts';
import type { Server, Team } from './server.ts';
import type { PeerResult } from './peer.ts';

/** Everything the parts share in one run. */
export interface Ctx {
  params: Params;
  dataDir: string;
  server: Server;
  team: Team;
  api: Api;
  projectId: string;
  peer?: PeerResult;
  format: 'row' | 'columnar'; // the cheaper format the server accepts (for untimed loading)
  columnar: boolean;
  pointsWritten: number; // every point acked by this run's server
  results: Record<string, unknown>;
}

let expSeq = 0;
/** Creates an experiment (Assay's unit of a run) and returns its id. */
export async function newExperiment(ctx: Ctx, prefix: string): Promise<string> {
  const e = await ctx.api.json<{ id: string }>('POST', `/api/v1/projects/${ctx.projectId}/experiments`, {
    name: `${prefix}-${++expSeq}-${Date.now().toString(36)}`,
  });
  return e.id;
}
