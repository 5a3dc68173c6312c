import { useLayoutEffect, useRef } from 'react';

/**
 * An invisible, zero-height copy of a chart grid's first cell: the width a Chart's plot will have,
 * known before any chart is mounted (the CSS decides it; this reads it rather than redoing the grid
 * arithmetic). Reports the first laid-out width once.
 */
export function PlotWidthProbe({ onWidth }: { onWidth(width: number): void }) {
  const ref = useRef<HTMLDivElement>(null);
  const sent = useRef(false);
  useLayoutEffect(() => {
    const w = Math.floor(ref.current!.getBoundingClientRect().width);
    if (w > 0 && !sent.current) {
      sent.current = true;
      onWidth(w);
    }
  });
  return (
    <div className="chart-grid" aria-hidden style={{ height: 0, overflow: 'hidden', visibility: 'hidden' }}>
      <div className="chart-slot" style={{ height: 0 }}>
        <div className="chart">
          <div className="chart-plot" ref={ref} />
        </div>
      </div>
    </div>
  );
}

/**
 * The same measurement before React has rendered anything: a hidden copy of the layout's page
 * column (`.app > .page`, components/Layout.tsx) holding a chart grid's first cell. 0 when the
 * styles are not there yet. Without a page scrollbar yet, it is never narrower than the real plot.
 */
export function measurePlotWidthNow(): number {
  const app = document.createElement('div');
  app.className = 'app';
  app.setAttribute('aria-hidden', 'true');
  app.style.cssText = 'position:absolute;left:0;right:0;top:0;height:0;min-height:0;overflow:hidden;visibility:hidden';
  app.innerHTML = '<main class="page"><div class="chart-grid"><div class="chart-slot" style="height:0"><div class="chart"><div class="chart-plot"></div></div></div></div></main>';
  document.body.appendChild(app);
  try {
    const plot = app.querySelector('.chart-plot')!;
    // charts.css not applied (the grid is a plain block): the cell would be the page's full width
    if (getComputedStyle(app.querySelector('.chart-grid')!).display !== 'grid') return 0;
    return Math.floor(plot.getBoundingClientRect().width);
  } finally {
    app.remove();
  }
}
