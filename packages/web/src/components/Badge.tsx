/** Run and hypothesis statuses as coloured pills (colours from the theme variables in pages.css). */
export function StatusBadge({ status, live = false }: { status: string; live?: boolean }) {
  return (
    <span className={`badge badge-${status.toLowerCase()}`} data-testid="status-badge" data-status={status}>
      {live && <span className="live-dot" title="running, heartbeat fresh" aria-label="live" />}
      {status}
    </span>
  );
}
