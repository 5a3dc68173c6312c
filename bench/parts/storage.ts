import fs from 'node:fs';
import path from 'node:path';
import { dirBytes, measureTable } from '../lib/disk.ts';
import { sleep } from '../lib/http.ts';
import { figure, note } from '../lib/report.ts';
import { fmt } from '../lib/stats.ts';
import type { Ctx } from '../lib/context.ts';

/**
 * Disk bytes/point of the `metrics` table: active parts' file sizes / their rows (count.txt),
 * measured after background merges settle (part count unchanged for 5 s, at most mergeWait s).
 */
export async function storagePart(ctx: Ctx, mergeWaitS = 90): Promise<void> {
  const ch = path.join(ctx.dataDir, 'clickhouse');
  let m = measureTable(ch, 'metrics');
  const t0 = Date.now();
  let stableSince = Date.now();
  let lastParts = m.parts;
  while (Date.now() - t0 < mergeWaitS * 1000 && Date.now() - stableSince < 5000) {
    await sleep(1000);
    m = measureTable(ch, 'metrics');
    if (m.parts !== lastParts) {
      lastParts = m.parts;
      stableSince = Date.now();
    }
  }
  note(`storage: metrics table ${m.parts} active parts (${m.wideParts} wide), ${m.rows.toLocaleString('en-US')} rows, ${fmt(m.bytes / 2 ** 20)} MiB; waited ${fmt((Date.now() - t0) / 1000)} s for merges`);
  if (m.rows !== ctx.pointsWritten) note(`storage: table rows ${m.rows} ≠ points acked ${ctx.pointsWritten} (unmerged duplicates or rows still in flight)`);
  const peer = ctx.peer?.disk;
  figure({
    name: 'disk_bytes_per_point',
    value: m.bytes / Math.max(1, m.rows),
    unit: 'bytes/point',
    higherIsBetter: false,
    peer: peer?.bytes_per_point,
    detail: { rows: m.rows, bytes: m.bytes, parts: m.parts, dir: m.dir },
  });
  if (m.columnsRows > 0) {
    const cols = Object.entries(m.columns)
      .sort((a, b) => b[1] - a[1])
      .map(([c, b]) => `${c} ${fmt(b / m.columnsRows)}`)
      .join(', ');
    note(`storage: bytes/point by column over wide parts (${m.columnsRows.toLocaleString('en-US')} rows): ${cols}`);
    ctx.results.disk_columns = Object.fromEntries(Object.entries(m.columns).map(([c, b]) => [c, b / m.columnsRows]));
  }
  // Every table in the database (views' targets included), active parts only, per metrics row.
  const db = path.join(ch, 'data', 'default');
  const perTable: Record<string, number> = {};
  let allBytes = 0;
  for (const t of fs.readdirSync(db)) {
    try {
      const d = measureTable(ch, t);
      perTable[t] = d.bytes;
      allBytes += d.bytes;
    } catch {
      /* not a MergeTree directory */
    }
  }
  const whole = dirBytes(ch);
  figure({ name: 'disk_all_tables_bytes_per_point', value: allBytes / Math.max(1, m.rows), unit: 'bytes/point', higherIsBetter: false, detail: { per_table_bytes: perTable, whole_dir_bytes: whole } });
  note(
    `storage: all tables (active parts) per metrics row: ` +
      Object.entries(perTable)
        .filter(([, b]) => b > 0)
        .sort((a, b) => b[1] - a[1])
        .map(([t, b]) => `${t} ${fmt(b / Math.max(1, m.rows))}`)
        .join(', ') +
      `; whole <data-dir>/clickhouse incl. outdated parts awaiting cleanup: ${fmt(whole / Math.max(1, m.rows))} B/point`,
  );
  if (peer) note(`peer disk: ${peer.what} = ${peer.bytes.toLocaleString('en-US')} B / ${peer.points.toLocaleString('en-US')} rows`);
}
