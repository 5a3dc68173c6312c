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
