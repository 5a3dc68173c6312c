import { z } from 'zod';
import { LIMITS } from './limits.ts';
import { Name } from './index.ts';

/** Project metrics: per metric name a direction, an aggregation and (derived) an expression. */
export const MetricDirection = z.enum(['minimize', 'maximize']);
export const MetricAggregation = z.enum(['last', 'best', 'average']).describe('last: value at the highest step; best: min or max by direction; average: mean over the final 10% of the steps');
export const MetricSourceType = z.enum(['scalar', 'derived']);

export const ProjectMetricParams = z.object({
  project_id: Name('project_id').describe('Project UUID or name'),
  metric_name: Name('metric_name', LIMITS.metricNameMax).describe('Metric name (URL-encoded)'),
});

export const ProjectMetricPut = z
  .object({
    direction: MetricDirection.optional(),
    aggregation: MetricAggregation.optional(),
    source_type: MetricSourceType.optional(),
    // Checked by the server's expression parser (422 with the position), not here.
    expression: z.string().nullish().describe('Derived metrics only: arithmetic over other metrics at the same step, e.g. `val/loss` - `train/loss`'),
    description: Name('description', LIMITS.descriptionMax, 0).nullish(),
  })
  .strict();

export const ProjectMetric = z.object({
  name: z.string(),
  direction: MetricDirection,
  aggregation: MetricAggregation,
  source_type: MetricSourceType,
  expression: z.string().nullable(),
  description: z.string().nullable(),
  configured: z.boolean().describe('false: never configured, the defaults apply'),
  logged: z.boolean().describe('Points were logged under this name in the project'),
});

export const ProjectMetricList = z.object({ items: z.array(ProjectMetric) });
