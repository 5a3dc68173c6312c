import { useCallback, useMemo } from 'react';
import { useSearchParams } from 'react-router';
import type { XAxis } from './build.ts';
import { formatSmoothing, parseSmoothing, type Smoothing } from './smoothing.ts';
import type { StepRange } from './types.ts';

export interface ChartSettings {
  xAxis: XAxis;
  logY: boolean;
  smoothing: Smoothing;
  /** One zoom for every chart of the page (their x axes stay aligned), in steps. */
  zoom: StepRange | null;
}

function parseZoom(s: string | null): StepRange | null {
  const m = s?.match(/^(\d+)-(\d+)$/);
  if (!m) return null;
  const min = Number(m[1]);
  const max = Number(m[2]);
  return min <= max ? { min, max } : null;
}

/** Chart settings live in the URL (`x`, `log`, `smooth`, `zoom`) so a link shows the same view. */
export function useChartSettings(): [ChartSettings, (patch: Partial<ChartSettings>) => void] {
  const [params, setParams] = useSearchParams();
  const x = params.get('x');
  const settings = useMemo<ChartSettings>(
    () => ({
      xAxis: x === 'wall' || x === 'relative' ? x : 'step',
      logY: params.get('log') === '1',
      smoothing: parseSmoothing(params.get('smooth')),
      zoom: parseZoom(params.get('zoom')),
    }),
    [params, x],
  );
  const update = useCallback(
    (patch: Partial<ChartSettings>) => {
      setParams(
        (prev) => {
          const next = new URLSearchParams(prev);
          const put = (k: string, v: string | null) => (v === null ? next.delete(k) : next.set(k, v));
          if ('xAxis' in patch) put('x', patch.xAxis === 'step' ? null : patch.xAxis!);
          if ('logY' in patch) put('log', patch.logY ? '1' : null);
          if ('smoothing' in patch) put('smooth', formatSmoothing(patch.smoothing!));
          if ('zoom' in patch) put('zoom', patch.zoom ? `${patch.zoom.min}-${patch.zoom.max}` : null);
          return next;
        },
        { replace: true },
      );
    },
    [setParams],
  );
  return [settings, update];
}

/** The page-level controls: x axis, log scale, smoothing, zoom reset. */
export function ChartToolbar({ settings, update }: { settings: ChartSettings; update: (p: Partial<ChartSettings>) => void }) {
  const s = settings.smoothing;
  const weight = s.kind === 'ema' || s.kind === 'twema' ? s.weight : 0.6;
  const window = s.kind === 'avg' ? s.window : 10;
  return (
    <div className="chart-toolbar" role="toolbar" aria-label="Chart settings">
      <label>
        X axis{' '}
        <select value={settings.xAxis} onChange={(e) => update({ xAxis: e.target.value as XAxis, zoom: settings.zoom })} data-testid="x-axis">
          <option value="step">Step</option>
          <option value="wall">Wall time</option>
          <option value="relative">Relative time</option>
        </select>
      </label>
      <label>
        <input type="checkbox" checked={settings.logY} onChange={(e) => update({ logY: e.target.checked })} data-testid="log-y" /> Log scale
      </label>
      <label>
        Smoothing{' '}
        <select
          value={s.kind}
          data-testid="smoothing"
          onChange={(e) => {
            const k = e.target.value;
            update({ smoothing: k === 'none' ? { kind: 'none' } : k === 'avg' ? { kind: 'avg', window } : { kind: k as 'ema' | 'twema', weight } });
          }}
        >
          <option value="none">None</option>
          <option value="ema">EMA</option>
          <option value="twema">Time-weighted EMA</option>
          <option value="avg">Running average</option>
        </select>
      </label>
      {(s.kind === 'ema' || s.kind === 'twema') && (
        <label>
          <input type="range" min={0} max={0.99} step={0.01} value={s.weight} onChange={(e) => update({ smoothing: { kind: s.kind, weight: Number(e.target.value) } })} aria-label="Smoothing weight" />{' '}
          {s.weight.toFixed(2)}
        </label>
      )}
      {s.kind === 'avg' && (
        <label>
          window{' '}
          <input type="number" min={1} max={10000} value={s.window} style={{ width: 72 }} onChange={(e) => update({ smoothing: { kind: 'avg', window: Math.max(1, Math.min(10000, Math.round(Number(e.target.value)) || 1)) } })} />
        </label>
      )}
      {settings.zoom && (
        <button type="button" onClick={() => update({ zoom: null })} data-testid="reset-zoom">
          Reset zoom (steps {settings.zoom.min.toLocaleString()}–{settings.zoom.max.toLocaleString()})
        </button>
      )}
      <span className="chart-hint" title="Drag across a chart to zoom, double-click to reset; with a chart focused, ←/→ pan and +/− zoom">
        drag: zoom · double-click: reset · ←/→ +/−
      </span>
    </div>
  );
}
