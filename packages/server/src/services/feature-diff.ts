import type { AppContext } from '../context.ts';
import { notFound } from '../errors.ts';
import * as expRepo from '../stores/postgres/repos/experiments.ts';
import type { Tenant } from '../stores/postgres/tenant.ts';
import { resolveProject } from './resolve.ts';

/**
 * Features are nested JSON; researchers compare them key by key. A key is the dotted path to a
 * leaf: objects are walked, everything else (numbers, strings, arrays, null, `{}`) is a leaf, so
 * `{model: {depth: 12}}` → `model.depth`. Arrays are leaves on purpose: `layers: [64, 64]` vs
 * `[64, 128]` is one changed setting, not two.
 */
export function flattenFeatures(features: unknown, prefix = '', out: Map<string, unknown> = new Map()): Map<string, unknown> {
  if (isPlainObject(features) && (Object.keys(features).length > 0 || prefix === '')) {
    for (const [k, v] of Object.entries(features)) flattenFeatures(v, prefix ? `${prefix}.${k}` : k, out);
  } else if (prefix !== '') {
    out.set(prefix, features);
  }
  return out;
}

const isPlainObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Structural equality for JSON values (key order in objects does not matter). */
export function jsonEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a) || Array.isArray(b)) {
    return Array.isArray(a) && Array.isArray(b) && a.length === b.length && a.every((x, i) => jsonEqual(x, b[i]));
  }
  if (isPlainObject(a) && isPlainObject(b)) {
    const ka = Object.keys(a);
    return ka.length === Object.keys(b).length && ka.every((k) => k in b && jsonEqual(a[k], b[k]));
  }
  return false;
}

export type FeatureChange = 'added' | 'removed' | 'changed' | 'same';
export interface FeatureKeyDiff {
  key: string;
  change: FeatureChange;
  values: Record<string, unknown>;
}

/**
 * Per flattened key, each run's value and how it differs, relative to the first run:
 * missing there but present elsewhere → added; present there but missing somewhere → removed;
 * present everywhere with unequal values → changed. Keys sorted; `all` keeps the `same` ones.
 */
export function diffFeatures(runs: { ref: string; features: unknown }[], all: boolean): FeatureKeyDiff[] {
  const flat = runs.map((r) => ({ ref: r.ref, keys: flattenFeatures(r.features) }));
  const keys = new Set<string>();
  for (const f of flat) for (const k of f.keys.keys()) keys.add(k);
  const out: FeatureKeyDiff[] = [];
  for (const key of [...keys].sort()) {
    const holders = flat.filter((f) => f.keys.has(key));
    let change: FeatureChange;
    if (!flat[0].keys.has(key)) change = 'added';
    else if (holders.length < flat.length) change = 'removed';
    else change = holders.every((h) => jsonEqual(h.keys.get(key), flat[0].keys.get(key))) ? 'same' : 'changed';
    if (change === 'same' && !all) continue;
    out.push({ key, change, values: Object.fromEntries(holders.map((h) => [h.ref, h.keys.get(key)])) });
  }
  return out;
}

/**
 * Resolves the caller's identifiers (UUIDs or names, in their order) to experiments of one
 * project; an unknown one is a 404 naming it. The same experiment may be asked for twice (by id
 * and by name): each identifier keeps its own entry.
 */
export async function resolveRefs(ctx: AppContext, tenant: Tenant, projectId: string, refs: string[]) {
  const found = await expRepo.findExperiments(ctx.pg.db, tenant, projectId, refs);
  return refs.map((ref) => {
    // An id match wins over a name match, as in single lookups (a run may be named like another's UUID).
    const e = found.find((x) => x.id === ref) ?? found.find((x) => x.name === ref);
    if (!e) throw notFound(`Experiment "${ref}"`);
    return { ref, experiment: e };
  });
}

export async function featureDiff(ctx: AppContext, tenant: Tenant, projectIdOrName: string, refs: string[], all: boolean) {
  const project = await resolveProject(ctx, tenant, projectIdOrName);
  const runs = await resolveRefs(ctx, tenant, project.id, [...new Set(refs)]);
  return {
    experiments: runs.map((r) => ({ ref: r.ref, id: r.experiment.id, name: r.experiment.name })),
    keys: diffFeatures(runs.map((r) => ({ ref: r.ref, features: r.experiment.features })), all),
  };
}
