/**
 * The logged_at versions of metric rows (µs since the epoch): a batch of n points gets n
 * consecutive versions [base, base+n), reserved in arrival order, so a step logged twice keeps its
 * later value; and a batch id's range is how settling tells whether its rows landed (it counts the
 * rows of the experiment in that range: services/ingest.ts).
 *
 * That count is only right if no other batch of the experiment has versions in the range — and two
 * API processes on one clock would hand out overlapping ranges. So with a shared PostgreSQL, a
 * process takes its versions from blocks reserved in PostgreSQL (`reserveBlock`: one counter row,
 * every reservation above the last one): blocks never overlap, whichever process got them. A block
 * is BLOCK_US of the clock and is given up once the wall clock passes it, so versions stay within
 * about (processes × BLOCK_US) of real time at one PostgreSQL statement per BLOCK_US per busy
 * process. Without `reserveBlock` (embedded stores: one process) the local clock alone is used.
 */
export const BLOCK_US = 50_000;

export class VersionClock {
  /** Next version this process may hand out. */
  private cursor = 0;
  /** End (exclusive) of the block this process owns; Infinity on the local clock. */
  private end: number;
  private refills: Promise<unknown> = Promise.resolve();
  private waiting = 0;

  constructor(private readonly reserveBlock?: (minUs: number, size: number) => Promise<number>) {
    this.end = reserveBlock ? 0 : Infinity;
  }

  /** The first of `n` fresh versions: at once when the current block has room, else after a refill. */
  reserve(n: number): number | Promise<number> {
    // requests waiting for a refill keep their place: nobody overtakes them from the block
    if (this.waiting === 0) {
      const base = this.take(n);
      if (base !== undefined) return base;
    }
    this.waiting++;
    const next = this.refills.then(async () => {
      const base = this.take(n);
      if (base !== undefined) return base;
      const size = Math.max(BLOCK_US, n);
      const start = await this.reserveBlock!(Date.now() * 1000, size);
      this.cursor = start + n;
      this.end = start + size;
      return start;
    });
    this.refills = next.catch(() => undefined).finally(() => this.waiting--);
    return next;
  }

  private take(n: number): number | undefined {
    const base = Math.max(Date.now() * 1000, this.cursor);
    if (base + n > this.end) return undefined;
    this.cursor = base + n;
    return base;
  }
}
