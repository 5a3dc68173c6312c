import path from 'node:path';
import type { ExperimentRow } from '../../stores/postgres/repos/experiments.ts';
import type { ProjectRow } from '../../stores/postgres/repos/projects.ts';
import { invalid } from './errors.ts';
import { hex, metaOf } from './model.ts';

/*
 * Where an MLflow experiment's artifacts live. Default: Assay's own artifact proxy
 * (`mlflow-artifacts:/<experiment_id>`), which stores them as Assay artifacts of the run. A custom
 * `artifact_location` given to create_experiment is kept and resolved the way MLflow 3.17.2's
 * server does (mlflow/utils/uri.py resolve_uri_if_local, append_to_uri_path), and runs created in
 * that experiment get `<location>/<run_id>/artifacts`. Assay never opens such a location itself:
 * for `file:`, local paths and object stores the MLflow client writes and reads the files directly;
 * a host-less `mlflow-artifacts:/<prefix>` goes through Assay's proxy like the default.
 */

/** MLflow's MLFLOW_ARTIFACT_LOCATION_MAX_LENGTH default. */
export const ARTIFACT_LOCATION_MAX = 2048;

/** Python's urlparse scheme (lower-cased), '' when there is none. */
export function uriScheme(uri: string): string {
  const m = /^([A-Za-z][A-Za-z0-9+.-]*):/.exec(uri);
  return m ? m[1].toLowerCase() : '';
}

// schemes whose last path segment urlparse splits at ';' into "params" (MLflow refuses params)
const USES_PARAMS = new Set(['', 'ftp', 'hdl', 'prospero', 'http', 'imap', 'https', 'shttp', 'rtsp', 'rtsps', 'rtspu', 'sip', 'sips', 'mms', 'sftp', 'tel']);

function decodeFully(s: string): string {
  for (let i = 0; i < 10; i++) {
    let d: string;
    try {
      d = decodeURIComponent(s);
    } catch {
      return s;
    }
    if (d === s) return s;
    s = d;
  }
  return s;
}

/** `file:` URI → its path (percent-decoded); undefined when it names a remote host. */
function fileUriPath(uri: string): string | undefined {
  const m = /^file:(\/\/([^/?#]*))?([^?#]*)/i.exec(uri)!;
  const host = m[2] ?? '';
  if (host && host !== '.' && !host.startsWith('localhost') && !host.startsWith('127.0.0.1')) return undefined;
  return decodeFully(m[3]);
}

/**
 * create_experiment's artifact_location as MLflow keeps it: checked like MLflow's handler
 * (no fragment or params, no `..` in the query, not `runs:`, ≤ 2048 characters) and a relative
 * local path resolved against the server's working directory (MLflow: the server's cwd too).
 * Empty → null (the default proxy location).
 */
export function resolveArtifactLocation(raw: string | undefined, cwd = process.cwd()): string | null {
  if (!raw) return null;
  const scheme = uriScheme(raw);
  const hashAt = raw.indexOf('#');
  const beforeFragment = hashAt < 0 ? raw : raw.slice(0, hashAt);
  const lastSegment = beforeFragment.split('?')[0].split('/').pop() ?? '';
  if ((hashAt >= 0 && hashAt < raw.length - 1) || (USES_PARAMS.has(scheme) && /;./.test(lastSegment))) {
    throw invalid("'artifact_location' URL can't include fragments or params.");
  }
  const q = beforeFragment.indexOf('?');
  if (q >= 0 && decodeFully(beforeFragment.slice(q + 1)).includes('..')) throw invalid('Invalid query string');
  if (raw.startsWith('runs:')) throw invalid(`Artifact location cannot be a runs:/ URI. Given: '${raw}'`);
  if (raw.length > ARTIFACT_LOCATION_MAX) throw lengthError();
  if (scheme === 'mlflow-artifacts' && !/^mlflow-artifacts:\/\//i.test(raw)) {
    // served by our proxy: its path names the run, so keep it a plain path
    const p = raw.slice('mlflow-artifacts:'.length);
    if (q >= 0 || !p.replace(/^\/+/, '') || p.split('/').some((s) => s === '..' || s === '.')) {
      throw invalid(`Invalid value '${raw}' for parameter 'artifact_location': a mlflow-artifacts: location needs a plain path (no '.', '..' or query)`);
    }
  }
  let resolved = raw;
  if (scheme === '') {
    resolved = path.posix.isAbsolute(raw) ? raw : path.posix.join(cwd, raw);
  } else if (scheme === 'file') {
    const local = fileUriPath(raw);
    if (local === undefined) throw invalid(`${raw} is not a valid remote uri. For remote access on windows, please consider using a different scheme such as SMB (e.g. smb://<hostname>/<path>).`);
    if (!path.posix.isAbsolute(local)) resolved = `file://${path.posix.join(cwd, local)}${q >= 0 ? beforeFragment.slice(q) : ''}`;
  }
  if (resolved.length > ARTIFACT_LOCATION_MAX) throw lengthError();
  return resolved;
}

const lengthError = () => invalid(`Invalid artifact path length. The length of the artifact path cannot be greater than ${ARTIFACT_LOCATION_MAX} characters. To configure this limit, please set the MLFLOW_ARTIFACT_LOCATION_MAX_LENGTH environment variable.`);

/** MLflow's append_to_uri_path: POSIX segments appended to the URI's path, its query kept at the end. */
export function appendToUriPath(uri: string, ...segments: string[]): string {
  const q = uri.indexOf('?');
  const [base, query] = q < 0 ? [uri, ''] : [uri.slice(0, q), uri.slice(q)];
  return `${base.replace(/\/+$/, '')}/${segments.join('/')}${query}`;
}

/** Assay's default: the proxy. */
export const proxyRoot = (projectId: string) => `mlflow-artifacts:/${hex(projectId)}`;

export const experimentArtifactLocation = (p: Pick<ProjectRow, 'id' | 'artifactLocation'>) => p.artifactLocation ?? proxyRoot(p.id);

/** A run keeps the location its experiment had when the run was created (features["mlflow"].artifact_root), as MLflow stores artifact_uri per run. */
export const runArtifactRoot = (e: Pick<ExperimentRow, 'projectId' | 'features'>) => metaOf(e).artifact_root ?? proxyRoot(e.projectId);
export const runArtifactUri = (e: Pick<ExperimentRow, 'projectId' | 'id' | 'features'>) => appendToUriPath(runArtifactRoot(e), hex(e.id), 'artifacts');
export const modelArtifactUri = (run: Pick<ExperimentRow, 'projectId' | 'features'>, modelId: string) => appendToUriPath(runArtifactRoot(run), 'models', modelId, 'artifacts');

/** True when Assay's proxy holds the run's files (default or a host-less mlflow-artifacts: location). */
export const proxied = (uri: string) => /^mlflow-artifacts:(?!\/\/)/i.test(uri);
