import { useEffect, useLayoutEffect, useRef, useState, type ReactNode } from 'react';

/**
 * Mounts its children only while the slot is on screen (plus a small margin), keeping the slot's
 * height otherwise: a page of 200 metric charts holds a handful of canvases, not 200.
 */
export function InView({ children, className = 'chart-slot', margin = 100 }: { children: () => ReactNode; className?: string; margin?: number }) {
  const ref = useRef<HTMLDivElement>(null);
  const [visible, setVisible] = useState(false);
  // Slots on screen when they appear mount their children in the same commit: waiting for the
  // observer's first callback cost a frame and a render of its own (bench:ui compare: ~30 ms
  // between the data's arrival and the first chart being built). One layout for every slot.
  useLayoutEffect(() => {
    const r = ref.current!.getBoundingClientRect();
    if (r.bottom >= -margin && r.top <= window.innerHeight + margin && r.width > 0) setVisible(true);
  }, [margin]);
  useEffect(() => {
    const io = new IntersectionObserver(([e]) => setVisible(e.isIntersecting), { rootMargin: `${margin}px 0px` });
    io.observe(ref.current!);
    return () => io.disconnect();
  }, [margin]);
  return (
    <div ref={ref} className={className} data-chart-slot data-visible={visible ? 'true' : 'false'}>
      {visible ? children() : null}
    </div>
  );
}
