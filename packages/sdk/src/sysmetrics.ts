/** Optional system metrics (Node): CPU %, RAM %, process RSS, GPU via nvidia-smi — logged as `system/...`. */
import os from 'node:os';
import { execFile } from 'node:child_process';

type Log = (name: string, value: number) => void;

function cpuTimes() {
  let idle = 0;
  let total = 0;
  for (const c of os.cpus()) {
    const t = c.times;
    idle += t.idle;
    total += t.user + t.nice + t.sys + t.idle + t.irq;
  }
  return { idle, total };
}

export class SystemMetrics {
  private timer: ReturnType<typeof setInterval> | null = null;
  private prev = cpuTimes();
  private gpu: boolean | null = null;

  constructor(
    private readonly log: Log,
    private readonly intervalMs = 10_000,
  ) {}

  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => this.sample(), this.intervalMs);
    this.timer.unref?.();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  sample(): void {
    const now = cpuTimes();
    const dt = now.total - this.prev.total;
    if (dt > 0) this.log('system/cpu_percent', 100 * (1 - (now.idle - this.prev.idle) / dt));
    this.prev = now;
    const total = os.totalmem();
    this.log('system/memory_percent', (100 * (total - os.freemem())) / total);
    this.log('system/process_rss_mb', process.memoryUsage.rss() / (1024 * 1024));
    if (this.gpu !== false) this.sampleGpu();
  }

  private sampleGpu(): void {
    const child = execFile(
      'nvidia-smi',
      ['--query-gpu=utilization.gpu,memory.used,memory.total', '--format=csv,noheader,nounits'],
      { timeout: 5000, windowsHide: true },
      (err, stdout) => {
        if (err) {
          if (this.gpu === null) this.gpu = false; // not installed / no GPU: stop trying
          return;
        }
        this.gpu = true;
        String(stdout)
          .trim()
          .split('\n')
          .forEach((line, i) => {
            const [util, used, tot] = line.split(',').map((s) => parseFloat(s.trim()));
            if (Number.isFinite(util)) this.log(`system/gpu${i}_util_percent`, util);
            if (Number.isFinite(used)) this.log(`system/gpu${i}_memory_used_mb`, used);
            if (Number.isFinite(used) && Number.isFinite(tot) && tot > 0) this.log(`system/gpu${i}_memory_percent`, (100 * used) / tot);
          });
      },
    );
    child.unref?.();
  }
}
