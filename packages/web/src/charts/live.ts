import { useEffect } from 'react';
import type { SeriesStore } from './store.ts';

/**
 * While a run is live, every `intervalMs` fetch the steps after the last one seen for the charts on
 * screen (one request) and append them. Paused while the tab is hidden; catches up when it shows.
 */
export function useLivePolling(store: SeriesStore, enabled: boolean, intervalMs = 2000): void {
  useEffect(() => {
    if (!enabled) return;
    let busy = false;
    const tick = async () => {
      if (busy || document.hidden) return;
      busy = true;
      try {
        await store.poll(store.mountedKeys());
      } catch {
        // a failed poll is retried at the next tick; the charts keep what they have
      } finally {
        busy = false;
      }
    };
    const id = setInterval(() => void tick(), intervalMs);
    const onVisible = () => {
      if (!document.hidden) void tick();
    };
    document.addEventListener('visibilitychange', onVisible);
    return () => {
      clearInterval(id);
      document.removeEventListener('visibilitychange', onVisible);
    };
  }, [store, enabled, intervalMs]);
}
