#!/usr/bin/env node
/**
 * The API image without a container engine — a check for machines that have none (CI's, this
 * project's). It follows ../Dockerfile: each stage a temp directory, its COPY instructions (the
 * build context filtered by ../.dockerignore, or another stage), and the RUN steps that make files
 * (`npm ci`, `npm run`, `rm -rf`; user creation and the like are skipped). Then it smoke-tests a
 * runtime target with the `node` running this script (the image has Node 24; the code runs on
 * >= 20.19), as uid 10001 when started as root, like the image's USER:
 *   --help · migrate · serve · the HEALTHCHECK command · team create · a metrics batch and its retry
 *   · the series read back · the web UI.
 *
 *   node deploy/emulate-image.mjs [--target standalone|server] [--keep]
 *
 * `standalone` (default) runs both stores embedded. `server` needs DATABASE_URL and CLICKHOUSE_URL
 * (+ CLICKHOUSE_USER/PASSWORD, REDIS_URL) in the environment: a database it may migrate. What it
 * cannot check is the base image itself: glibc, the Node version, file ownership inside layers.
 */
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const target = args.includes('--target') ? args[args.indexOf('--target') + 1] : 'standalone';
const keep = args.includes('--keep');
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'assay-image-'));
fs.chmodSync(work, 0o755);
const log = (msg) => console.log(`[emulate-image] ${msg}`);

// ---- the Dockerfile, as stages of instructions (continuations joined, ARG defaults substituted)
const text = fs.readFileSync(path.join(ROOT, 'Dockerfile'), 'utf8').replace(/\\\n/g, ' ');
const argDefaults = Object.fromEntries([...text.matchAll(/^ARG (\w+)=(\S+)$/gm)].map((m) => [m[1], m[2]]));
const stages = [];
for (const raw of text.split('\n')) {
  const line = raw.replace(/\$\{(\w+)\}/g, (m, a) => argDefaults[a] ?? m).trim();
  if (!line || line.startsWith('#') || line.startsWith('ARG ')) continue;
  const from = /^FROM (\S+)(?: AS (\S+))?$/i.exec(line);
  if (from) stages.push({ name: from[2] ?? String(stages.length), from: from[1], instrs: [] });
  else stages.at(-1).instrs.push(line);
}
const byName = new Map(stages.map((s) => [s.name, s]));
if (!byName.has(target)) throw new Error(`no stage ${target} in the Dockerfile (${[...byName.keys()].join(', ')})`);

// ---- the build context: ../.dockerignore's patterns (a path is out if it or a parent matches)
const ignore = fs.readFileSync(path.join(ROOT, '.dockerignore'), 'utf8').split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
const ignored = (rel) => {
  const parts = rel.split('/');
  return parts.some((_, i) => ignore.some((p) => path.matchesGlob(parts.slice(0, i + 1).join('/'), p)));
};

/** Docker's COPY: a directory's contents into dest; a file into dest/ (trailing slash) or as dest. */
function copy(srcAbs, destAbs, destIsDir, filter) {
  if (fs.statSync(srcAbs).isDirectory()) {
    fs.cpSync(srcAbs, destAbs, { recursive: true, filter, verbatimSymlinks: true });
  } else {
    const to = destIsDir ? path.join(destAbs, path.basename(srcAbs)) : destAbs;
    fs.mkdirSync(path.dirname(to), { recursive: true });
    fs.copyFileSync(srcAbs, to);
  }
}

const built = new Map();
const sh = (cmd, cwd) => execFileSync('sh', ['-c', cmd], { cwd, stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 64 << 20 });

function build(name) {
  if (built.has(name)) return built.get(name);
  const stage = byName.get(name);
  const dir = path.join(work, name);
  const parent = byName.has(stage.from) ? build(stage.from) : undefined;
  const state = { dir, env: { ...(parent?.env ?? {}) }, user: parent?.user, exec: { ...(parent?.exec ?? {}) } };
  if (parent) fs.cpSync(parent.dir, dir, { recursive: true, verbatimSymlinks: true });
  else fs.mkdirSync(dir, { recursive: true });
  for (const instr of stage.instrs) {
    const [op, ...rest] = instr.split(/\s+/);
    const body = instr.slice(op.length).trim();
    if (op === 'COPY') {
      const fromFlag = rest.find((r) => r.startsWith('--from='));
      const paths = rest.filter((r) => !r.startsWith('--'));
      const dest = paths.pop();
      const destAbs = path.join(dir, dest);
      for (const src of paths) {
        if (fromFlag) {
          const other = build(fromFlag.slice('--from='.length));
          copy(path.join(other.dir, src.replace(/^\/app\/?/, '')), destAbs, dest.endsWith('/'));
        } else {
          const filter = (p) => !ignored(path.relative(ROOT, p).split(path.sep).join('/'));
          if (ignored(src)) throw new Error(`COPY ${src}: excluded by .dockerignore`);
          copy(path.join(ROOT, src), destAbs, dest.endsWith('/'), filter);
        }
      }
    } else if (op === 'RUN') {
      for (const step of body.split('&&').map((s) => s.trim())) {
        if (/^npm (ci|run|prune)\b/.test(step) || /^rm -rf [\w@./-]+$/.test(step)) {
          log(`${name}: ${step}`);
          sh(step, dir);
        }
      }
    } else if (op === 'ENV') {
      for (const [, k, v] of body.matchAll(/(\w+)=(\S+)/g)) state.env[k] = v;
    } else if (op === 'USER') {
      state.user = body;
    } else if (op === 'ENTRYPOINT' || op === 'CMD') {
      state.exec[op] = JSON.parse(body);
    } else if (op === 'HEALTHCHECK') {
      state.exec.HEALTHCHECK = JSON.parse(body.slice(body.indexOf('CMD ') + 4));
    }
  }
  built.set(name, state);
  return state;
}

const freePort = () =>
  new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });

async function smoke(image) {
  const du = (p) => sh(`du -sm ${p} | cut -f1`, image.dir).toString().trim();
  log(`${target}: node_modules ${du('node_modules')} MB, everything ${du('.')} MB; USER ${image.user}`);
  const data = path.join(work, 'data');
  fs.mkdirSync(path.join(data, 'tmp'), { recursive: true });
  const asImageUser = process.getuid?.() === 0;
  if (asImageUser) sh(`chown -R 10001:10001 ${data}`, work);
  const port = await freePort();
  const env = { PATH: process.env.PATH, ...image.env, ASSAY_DATA_DIR: data, TMPDIR: path.join(data, 'tmp'), HOME: data, PORT: String(port), ASSAY_ALLOWED_HOSTS: 'localhost' };
  if (target !== 'standalone') {
    for (const k of ['DATABASE_URL', 'CLICKHOUSE_URL', 'CLICKHOUSE_USER', 'CLICKHOUSE_PASSWORD', 'CLICKHOUSE_DATABASE', 'REDIS_URL']) if (process.env[k]) env[k] = process.env[k];
    if (!env.DATABASE_URL || !env.CLICKHOUSE_URL) throw new Error(`--target ${target} needs DATABASE_URL and CLICKHOUSE_URL`);
  }
  const argv = (cmd) => (asImageUser ? ['setpriv', ['--reuid=10001', '--regid=10001', '--clear-groups', process.execPath, ...cmd]] : [process.execPath, cmd]);
  const node = (exe) => exe.map((a) => (a === 'node' ? process.execPath : a)).slice(1);
  const run = (cmd) => {
    const [file, a] = argv(cmd);
    return execFileSync(file, a, { cwd: image.dir, env, stdio: ['ignore', 'pipe', 'pipe'], timeout: 180_000 }).toString();
  };
  const entry = node(image.exec.ENTRYPOINT);
  if (!run([...entry, '--help']).includes('serve')) throw new Error('--help does not list serve');
  log('assay --help: ok');
  log(`assay migrate: ${run([...entry, 'migrate']).trim()}`);
  const [file, a] = argv([...entry, ...image.exec.CMD]);
  const server = spawn(file, a, { cwd: image.dir, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  server.stdout.on('data', (d) => (out += d));
  server.stderr.on('data', (d) => (out += d));
  const exited = new Promise((resolve) => server.on('exit', (code) => resolve(code)));
  try {
    const t0 = Date.now();
    for (;;) {
      try {
        run(node(image.exec.HEALTHCHECK));
        break;
      } catch {
        if (Date.now() - t0 > 150_000 || server.exitCode !== null) throw new Error(`never healthy:\n${out}`);
        await new Promise((r) => setTimeout(r, 1000));
      }
    }
    log(`HEALTHCHECK passed after ${Math.round((Date.now() - t0) / 1000)} s`);
    const team = JSON.parse(run([...entry, 'team', 'create', `smoke-${Date.now()}`]));
    // node:http, not fetch: fetch sets Host itself, and the server answers 421 to a Host it does not serve
    const api = (method, p, body) =>
      new Promise((resolve, reject) => {
        const req = http.request(
          { host: '127.0.0.1', port, path: p, method, headers: { host: `localhost:${port}`, authorization: `Bearer ${team.api_key}`, 'content-type': 'application/json' } },
          (res) => {
            let text = '';
            res.on('data', (d) => (text += d));
            res.on('end', () => resolve({ status: res.statusCode, text }));
          },
        );
        req.on('error', reject);
        req.end(body === undefined ? undefined : JSON.stringify(body));
      });
    const post = async (p, body) => {
      const r = await api('POST', `/api/v1${p}`, body);
      if (r.status >= 300) throw new Error(`POST ${p}: ${r.status} ${r.text}`);
      return JSON.parse(r.text);
    };
    await post('/projects', { name: 'smoke' });
    await post('/projects/smoke/experiments', { name: 'run' });
    const batch = { batch_id: 'b1', metrics: [0.9, 0.7, 0.5].map((v, step) => ({ metric_name: 'loss', metric_value: v, step })) };
    const first = await post('/metrics/batch/smoke/run', batch);
    const retry = await post('/metrics/batch/smoke/run', batch);
    const series = JSON.parse((await api('GET', '/api/v1/metrics/timeseries/smoke/run/loss?limit=100')).text);
    const got = JSON.stringify([first.duplicate, retry.duplicate, series.points?.map((p) => p.value)]);
    if (got !== JSON.stringify([false, true, [0.9, 0.7, 0.5]])) throw new Error(`metrics round trip: ${got}`);
    log('team create, a batch, its retry (duplicate) and the series read back: ok');
    const ui = await api('GET', '/');
    if (ui.status !== 200 || !ui.text.includes('<div id="root">')) throw new Error(`web UI: ${ui.status}`);
    log('web UI: ok');
  } finally {
    server.kill('SIGTERM');
    const code = await exited;
    log(`serve stopped (exit ${code})`);
    if (code !== 0) console.log(out);
  }
}

try {
  const image = build(target);
  await smoke(image);
  log(`${target}: passed`);
} finally {
  if (keep) log(`kept ${work}`);
  else fs.rmSync(work, { recursive: true, force: true });
}
