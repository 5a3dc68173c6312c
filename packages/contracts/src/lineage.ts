import { z } from 'zod';
import { Name } from './index.ts';

/** The experiment DAG and feature diffs (issue 9): schemas shared by the server, the SDKs and the UI. */

export const REFERENCE_KINDS = ['derived_from', 'resumes', 'uses_checkpoint_of', 'compares_to'] as const;
export const ReferenceKind = z.enum(REFERENCE_KINDS);

export const ReferenceCreate = z.object({
  to_experiment: Name('to_experiment').describe('The experiment referred to (UUID or name), in the same project'),
  kind: ReferenceKind.default('derived_from'),
});

export const ReferenceDeleteQuery = z.object({
  kind: ReferenceKind.optional().describe('Only this kind of reference; without it, every kind to that experiment'),
});

export const LineageEdge = z.object({
  from: z.string().uuid().describe('The experiment that refers (the child: it was derived from / resumes / … `to`)'),
  to: z.string().uuid(),
  kind: ReferenceKind,
});

export const LineageNode = z.object({
  id: z.string().uuid(),
  name: z.string(),
  status: z.string(),
  depth: z.number().int().describe('Edges from the root along the walk (0 = the root)'),
});

export const LineageQuery = z.object({
  direction: z.enum(['up', 'down', 'both']).default('up').describe('up = what the run was derived from; down = what was derived from it'),
  depth: z.coerce.number().int().min(1).max(100).default(20),
  kind: z
    .union([ReferenceKind, z.array(ReferenceKind)])
    .transform((v) => (Array.isArray(v) ? v : [v]))
    .optional()
    .describe('Follow only these kinds of edge (repeat the parameter); default every kind'),
});

export const LineageResponse = z.object({
  root: z.string().uuid(),
  nodes: z.array(LineageNode),
  edges: z.array(LineageEdge),
  truncated: z.boolean().describe('true when the walk stopped at `depth` with edges left to follow'),
});

const listParam = z.union([z.string(), z.array(z.string())]).transform((v) => (Array.isArray(v) ? v : [v]));

export const FeatureDiffQuery = z.object({
  experiment_ids: listParam.pipe(z.array(Name('experiment_ids')).min(1).max(1000)).describe('UUIDs or names; repeat the parameter'),
  all: z
    .enum(['true', 'false', '1', '0'])
    .transform((v) => v === 'true' || v === '1')
    .default(false)
    .describe('List every key, not only those that differ'),
});

export const FeatureChange = z.enum(['added', 'removed', 'changed', 'same']);

export const FeatureDiffResponse = z.object({
  experiments: z
    .array(z.object({ ref: z.string(), id: z.string().uuid(), name: z.string() }))
    .describe('In the order asked; `ref` is the identifier as the caller sent it, and keys `values`'),
  keys: z.array(
    z.object({
      key: z.string().describe('Flattened dotted path, e.g. `model.depth`; arrays are compared whole'),
      change: FeatureChange.describe(
        'Relative to the first experiment: `added` — missing there, present in another; `removed` — present there, missing in another; ' +
          '`changed` — present everywhere with different values; `same` (only with `all=true`)',
      ),
      values: z.record(z.string(), z.unknown()).describe('Per experiment ref that has the key, its value; refs without the key are absent'),
    }),
  ),
});

