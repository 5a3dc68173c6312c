/**
 * The SDK as it ships: built JavaScript in dist/ (scripts/build.mjs, run by `npm ci` through the
 * root `prepare`), resolved through package.json `exports` from a project outside the repo, by
 * plain Node (no tsx), by a browser bundler, by tsc, and as the `assay-sdk` bin.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fs from 'node:fs';
import path from 'node:path';
import { execFile, execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';
import { Experiment } from '../src/experiment.ts';
import { SpoolSegment } from '../src/spool.ts';
import { silentLogger } from '../src/logger.ts';
import { LiveServer } from './live-server.ts';
import { expectExactlyOnce, range, removeTempDirs, tempDir, uniq } from './helpers.ts';

const PKG = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const REPO = path.resolve(PKG, '../..');
const DIST = path.join(PKG, 'dist');

let srv: LiveServer;
let proj: string;

/** Build dist/ when it is missing or older than a source file (a stale build would test old code). */
function ensureBuilt(): void {
  const newest = Math.max(...fs.readdirSync(path.join(PKG, 'src')).map((f) => fs.statSync(path.join(PKG, 'src', f)).mtimeMs), fs.statSync(path.join(PKG, 'scripts/build.mjs')).mtimeMs);
  const built = fs.existsSync(path.join(DIST, 'index.js')) ? fs.statSync(path.join(DIST, 'index.js')).mtimeMs : 0;
  if (built < newest) execFileSync(process.execPath, [path.join(PKG, 'scripts/build.mjs')], { stdio: 'pipe' });
}

/** A project outside the repo that depends on @assay/sdk the way npm links it (node_modules/@assay/sdk → the package). */
function consumerProject(): string {
  const dir = tempDir('assay-consumer');
  fs.writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module', dependencies: { '@assay/sdk': `file:${PKG}` } }));
  fs.mkdirSync(path.join(dir, 'node_modules/@assay'), { recursive: true });
  fs.symlinkSync(PKG, path.join(dir, 'node_modules/@assay/sdk'), 'dir');
  const bin = JSON.parse(fs.readFileSync(path.join(PKG, 'package.json'), 'utf8')).bin['assay-sdk'];
  fs.mkdirSync(path.join(dir, 'node_modules/.bin'));
  fs.symlinkSync(path.join('..', '@assay/sdk', bin), path.join(dir, 'node_modules/.bin/assay-sdk'));
  return dir;
}

function run(cmd: string, args: string[], opts: { cwd: string; env?: NodeJS.ProcessEnv }): Promise<{ code: number; stdout: string; stderr: string }> {
  const env = { ...process.env, ...opts.env };
  delete env.NODE_OPTIONS; // vitest's loaders must not leak into "plain Node"
  return new Promise((resolve) => {
    execFile(cmd, args, { cwd: opts.cwd, env, timeout: 120_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout: String(stdout), stderr: String(stderr) });
    });
  });
}

beforeAll(async () => {
  ensureBuilt();
  srv = await LiveServer.create();
  proj = consumerProject();
});
afterAll(async () => {
  await srv?.cleanup();
  removeTempDirs();
});

describe('@assay/sdk as built JavaScript', () => {
  it('a plain Node project imports it through package.json exports (no tsx) and logs to a live server', async () => {
    const name = uniq('plain-node');
    const script = path.join(proj, 'train.mjs');
    fs.writeFileSync(
      script,
      `import { Experiment, AssayClient } from '@assay/sdk';
import { AssayClient as ReadClient } from '@assay/sdk/client';
const exp = await Experiment.create({ project: 'pkg', name: ${JSON.stringify(name)}, apiUrl: process.env.URL, apiKey: process.env.KEY,
  spoolDir: ${JSON.stringify(path.join(proj, 'spool'))}, systemMetrics: false });
for (let step = 0; step < 5; step++) exp.log({ loss: 1 / (step + 1), acc: step / 5 }, { step });
const ok = await exp.finish();
const ts = await new ReadClient({ apiUrl: process.env.URL, apiKey: process.env.KEY }).getMetric('pkg', ${JSON.stringify(name)}, 'loss');
console.log(JSON.stringify({ ok, steps: ts.points.map((p) => p.step), resolved: import.meta.resolve('@assay/sdk'), sameClass: ReadClient === AssayClient, execArgv: process.execArgv }));
`,
    );
    const r = await run(process.execPath, [script], { cwd: proj, env: { URL: srv.url, KEY: srv.apiKey } });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out).toMatchObject({ ok: true, steps: range(5), sameClass: true, execArgv: [] });
    expect(fs.realpathSync(fileURLToPath(out.resolved))).toBe(path.join(DIST, 'index.js'));
  });

  it('the read client bundles for the browser with no Node built-ins (and the Node entry does not)', async () => {
    const bundle = (entry: string) =>
      esbuild.build({
        stdin: { contents: `import { AssayClient } from '${entry}';\nexport const c = new AssayClient({ apiUrl: 'https://assay.example' });`, resolveDir: proj, loader: 'js' },
        bundle: true,
        platform: 'browser',
        format: 'esm',
        minify: true,
        write: false,
        metafile: true,
        logLevel: 'silent',
      });
    const ok = await bundle('@assay/sdk/client');
    const inputs = Object.keys(ok.metafile.inputs);
    expect(inputs.filter((f) => !f.includes('packages/sdk/dist/') && f !== '<stdin>')).toEqual([]);
    const code = ok.outputFiles[0].text;
    expect(code).not.toMatch(/["']node:|require\(/);
    expect(code.length).toBeLessThan(40_000);
    console.info(`browser bundle of @assay/sdk/client: ${code.length} bytes minified`);
    // the check has teeth: the Node entry (spool, gzip, git) cannot be bundled for a browser
    await expect(bundle('@assay/sdk')).rejects.toThrow(/node:/);
  });

  it('ships self-contained types: a TypeScript consumer type-checks against dist/*.d.ts (no zod, no @assay/contracts)', async () => {
    fs.writeFileSync(
      path.join(proj, 'tsconfig.json'),
      JSON.stringify({ compilerOptions: { module: 'NodeNext', moduleResolution: 'NodeNext', target: 'ES2022', strict: true, noEmit: true, skipLibCheck: true, lib: ['ES2022', 'DOM'], typeRoots: [path.join(REPO, 'node_modules/@types')], types: ['node'] }, files: ['use.ts'] }),
    );
    fs.writeFileSync(
      path.join(proj, 'use.ts'),
      `import { Experiment, LIMITS, type ExperimentRecord, type Artifact, type Timeseries, type SyncSpoolResult } from '@assay/sdk';
import { AssayClient } from '@assay/sdk/client';
export async function f(c: AssayClient, e: Experiment): Promise<number> {
  const rec: ExperimentRecord = await c.getExperiment('p', 'e');
  const notes: string | null = rec.description;
  const a: Artifact[] = await c.listArtifacts('p', 'e');
  const ts: Timeseries = await e.getMetric('loss');
  const cut: boolean = ts.truncated;
  const max: 250 = LIMITS.metricNameMax;
  const ok: boolean = await e.finish('complete', { timeoutMs: 1000 });
  const r: SyncSpoolResult['foreign'][number]['command'] = 'x';
  // @ts-expect-error — the wire types are the contract's, not loose records
  const bad: ExperimentRecord = { id: 1 };
  return a.length + max + Number(cut) + Number(ok) + (notes?.length ?? 0) + r.length + Number(!!bad);
}
`,
    );
    const r = await run(process.execPath, [path.join(REPO, 'node_modules/typescript/bin/tsc'), '-p', path.join(proj, 'tsconfig.json')], { cwd: proj });
    expect(r.stdout + r.stderr).toBe('');
    expect(r.code).toBe(0);
    for (const f of fs.readdirSync(DIST).filter((f) => f.endsWith('.d.ts'))) expect(fs.readFileSync(path.join(DIST, f), 'utf8'), f).not.toMatch(/['"](zod|@assay\/contracts)/);
  });

  it('the built JavaScript has no runtime dependency (no zod, no @assay/contracts import)', () => {
    const files = [...fs.readdirSync(DIST), ...fs.readdirSync(path.join(DIST, 'chunks')).map((f) => `chunks/${f}`)].filter((f) => f.endsWith('.js'));
    for (const f of files) {
      const imports = [...fs.readFileSync(path.join(DIST, f), 'utf8').matchAll(/(?:^|\n)\s*(?:import|export)[^'"]*from\s*["']([^"']+)["']|import\(["']([^"']+)["']\)/g)].map((m) => m[1] ?? m[2]);
      expect(imports.filter((s) => !s.startsWith('node:') && !s.startsWith('./') && !s.startsWith('../')), f).toEqual([]);
    }
    const pkg = JSON.parse(fs.readFileSync(path.join(PKG, 'package.json'), 'utf8'));
    expect(pkg.dependencies ?? {}).toEqual({});
  });

  it('`npx assay-sdk sync` replays this SDK’s spool (legacy root too) and reports the Python SDK’s as foreign, exit 3', async () => {
    const root = tempDir('assay-spool-root');
    const saved = process.env.ASSAY_SPOOL_DIR;
    process.env.ASSAY_SPOOL_DIR = root;
    try {
      // a run of this version (default dir <root>/node), a legacy segment in the root, a Python run
      const name = uniq('offline');
      const exp = await Experiment.create({ project: 'pkg', name, mode: 'offline', apiUrl: srv.url, apiKey: srv.apiKey, systemMetrics: false, logger: silentLogger });
      for (let i = 0; i < 10; i++) exp.logMetric('loss', i);
      expect(await exp.finish('complete')).toBe(false);
      expect(fs.readdirSync(path.join(root, 'node')).filter((f) => f.endsWith('.jsonl'))).toHaveLength(1);
      const legacyName = uniq('legacy');
      const legacy = SpoolSegment.create(root, { api_url: srv.url, project: 'pkg', experiment: legacyName, project_id: null, experiment_id: null });
      legacy.append([{ type: 'metrics', batch_id: uniq('old'), metrics: range(7).map((i) => ({ metric_name: 'loss', metric_value: i, step: i })) }, { type: 'status', status: 'complete' }]);
      legacy.close();
      const py = path.join(root, 'python', 'pkg-run-1');
      fs.mkdirSync(py, { recursive: true });
      fs.writeFileSync(path.join(py, 'meta.json'), JSON.stringify({ project: 'pkg', name: 'py-run' }));
      fs.writeFileSync(path.join(py, 'seg-1000000000000000.jsonl'), '{"batch_id":"b","metrics":[]}\n');

      const env = { ASSAY_SPOOL_DIR: root, ASSAY_API_KEY: srv.apiKey, ASSAY_API_URL: srv.url };
      const r = await run('npx', ['--no', 'assay-sdk', 'sync'], { cwd: proj, env });
      expect(r.code, r.stderr).toBe(3);
      const summary = JSON.parse(r.stdout);
      expect(summary).toMatchObject({ segments: 2, synced: 2, failed: 0, points: 17, foreign: [{ sdk: 'python', dir: path.join(root, 'python'), runs: 1, segments: 1 }] });
      expect(r.stderr).toContain('foreign');
      expect(r.stderr).toContain(`ASSAY_API_KEY=<key> python -m research_sdk sync ${path.join(root, 'python')}`);
      const client = exp.client!;
      for (const [n, count] of [[name, 10], [legacyName, 7]] as const) {
        const rec = await client.getExperiment('pkg', n);
        expect(rec.status).toBe('complete');
        await expectExactlyOnce(client, { projectId: rec.project_id, id: rec.id }, { loss: count });
      }
      // nothing of ours left; the Python spool still reported until its own sync takes it
      expect(JSON.parse((await run('npx', ['--no', 'assay-sdk', 'sync'], { cwd: proj, env })).stdout)).toMatchObject({ segments: 0 });
      fs.rmSync(path.join(root, 'python'), { recursive: true });
      const clean = await run('npx', ['--no', 'assay-sdk', 'sync'], { cwd: proj, env });
      expect(clean.code).toBe(0);
      expect(await run('npx', ['--no', 'assay-sdk', 'bogus'], { cwd: proj, env })).toMatchObject({ code: 2 });
    } finally {
      if (saved === undefined) delete process.env.ASSAY_SPOOL_DIR;
      else process.env.ASSAY_SPOOL_DIR = saved;
    }
  });
});
