/**
 * Schemathesis (PyPI, in a cached venv: python/tests/venvs.py) against /openapi.json of `assay serve`
 * as a child process, with an admin key: no 5xx (not_a_server_error), no status the document does not
 * declare (status_code_conformance), no response that breaks its own schema
 * (response_schema_conformance). Used by fuzz.test.ts (bounded, in `npm test`) and soak/fuzz.test.ts.
 *
 * Left out of the run, so the team stays usable to the end: the local-admin route (another token),
 * revoking an API key and removing a member (the fuzzer could revoke its own key or remove its own
 * user, and every later call would be a 401), and /ajax-api (the same handlers as /api/2.0/mlflow).
 */
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ChildServer, createTeam, freePort } from './child-server.ts';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
export const SCHEMATHESIS = 'schemathesis==4.32.5';
const EXCLUDE = '^/api/v1/admin/|^/api/v1/api-keys/\\{|^/api/v1/members/\\{|^/ajax-api/';

export interface FuzzResult {
  exitCode: number;
  output: string;
  /** From schemathesis' summary: "N generated, M found K unique failures". */
  generated: number;
  failures: number;
  operations: number;
  /** Operations in /openapi.json that the run should have tested (all but the excluded ones). */
  expectedOperations: number;
}

/** The venv's `st`, built on first use (pip from PyPI; minutes the first time, cached after). */
export function schemathesisBin(): string {
  const py = execFileSync('python3', ['-c', `import sys; sys.path.insert(0, 'python/tests'); import venvs; print(venvs.venv_python('schemathesis', ['${SCHEMATHESIS}']))`], {
    cwd: REPO,
    encoding: 'utf8',
    timeout: 1_500_000,
  }).trim();
  return path.join(path.dirname(py), 'st');
}

export async function runFuzz(opts: { maxExamples: number; maxSeconds?: number; seed?: number }): Promise<FuzzResult> {
  const st = schemathesisBin();
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'assay-fuzz-'));
  const server = await new ChildServer(dataDir, await freePort()).ready();
  try {
    const key = await createTeam(server, 'fuzz');
    const doc = (await (await fetch(`${server.url}/openapi.json`)).json()) as { paths: Record<string, Record<string, unknown>> };
    const exclude = new RegExp(EXCLUDE);
    const expectedOperations = Object.entries(doc.paths)
      .filter(([p]) => !exclude.test(p))
      .reduce((n, [, ops]) => n + Object.keys(ops).filter((m) => ['get', 'post', 'put', 'patch', 'delete'].includes(m)).length, 0);
    const args = [
      'run', `${server.url}/openapi.json`,
      '-H', `Authorization: Bearer ${key}`,
      '--checks', 'not_a_server_error,status_code_conformance,response_schema_conformance',
      '--exclude-path-regex', EXCLUDE,
      '--max-examples', String(opts.maxExamples),
      '--seed', String(opts.seed ?? 20261130),
      '--workers', '1',
      '--request-timeout', '60',
      '--continue-on-failure',
      '--no-color',
      ...(opts.maxSeconds ? ['--max-time', String(opts.maxSeconds)] : []),
    ];
    const output = await new Promise<{ code: number; text: string }>((resolve, reject) => {
      const p = spawn(st, args, { cwd: dataDir, env: { ...process.env, SCHEMATHESIS_HOOKS: '', NO_COLOR: '1' }, stdio: ['ignore', 'pipe', 'pipe'] });
      let text = '';
      p.stdout.on('data', (d: Buffer) => (text += d.toString('utf8')));
      p.stderr.on('data', (d: Buffer) => (text += d.toString('utf8')));
      p.once('error', reject);
      p.once('exit', (code) => resolve({ code: code ?? -1, text }));
    });
    const gen = /(\d+) generated(?:, (\d+) found)?/.exec(output.text);
    const ops = /Tested: (\d+)/.exec(output.text);
    return { exitCode: output.code, output: output.text, generated: Number(gen?.[1] ?? 0), failures: Number(gen?.[2] ?? 0), operations: Number(ops?.[1] ?? 0), expectedOperations };
  } finally {
    server.proc.kill('SIGTERM');
    await server.exited;
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}
