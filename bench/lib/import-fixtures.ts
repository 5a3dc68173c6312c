/**
 * Import fixtures written straight in the sources' formats, fast enough for 10M points (MLflow's
 * client logs a few thousand points/s): an MLflow file store and a TensorBoard logdir. The test
 * suite reads small copies back with mlflow's client and tensorboardX's protobufs + CRC
 * (packages/server/test/import.test.ts), so the formats are the real ones.
 */
import fs from 'node:fs';
import path from 'node:path';
import { frameRecord } from '../../packages/server/src/importers/tfrecord.ts';

export interface FixtureShape {
  runs: number;
  metrics: number;
  steps: number;
}

/** The value every fixture stores for (run, metric, step): exact in float32 too (a multiple of 1/1024 below 2^14). */
export const fixtureValue = (run: number, metric: number, step: number) => ((run * 7 + metric * 13 + step) % 16384) / 1024;
const T0 = 1_700_000_000_000;

/** `<dir>/1/meta.yaml` (experiment "bench") and one run directory per run, in MLflow's file-store layout. */
export function writeMlruns(dir: string, s: FixtureShape): number {
  const exp = path.join(dir, '1');
  fs.mkdirSync(exp, { recursive: true });
  fs.writeFileSync(path.join(exp, 'meta.yaml'), `artifact_location: file://${exp}\ncreation_time: ${T0}\nexperiment_id: '1'\nlast_update_time: ${T0}\nlifecycle_stage: active\nname: bench\n`);
  for (let r = 0; r < s.runs; r++) {
    const id = r.toString(16).padStart(32, 'a');
    const run = path.join(exp, id);
    for (const d of ['metrics', 'params', 'tags', 'artifacts']) fs.mkdirSync(path.join(run, d), { recursive: true });
    fs.writeFileSync(path.join(run, 'meta.yaml'),
      `artifact_uri: file://${run}/artifacts\nend_time: ${T0 + s.steps * 1000}\nentry_point_name: ''\nexperiment_id: '1'\nlifecycle_stage: active\nrun_id: ${id}\n` +
      `run_name: run-${r}\nrun_uuid: ${id}\nsource_name: ''\nsource_type: 4\nsource_version: ''\nstart_time: ${T0}\nstatus: 3\ntags: []\nuser_id: bench\n`);
    fs.writeFileSync(path.join(run, 'params', 'seed'), String(r));
    fs.writeFileSync(path.join(run, 'tags', 'mlflow.runName'), `run-${r}`);
    for (let m = 0; m < s.metrics; m++) {
      const fd = fs.openSync(path.join(run, 'metrics', `m${m}`), 'w');
      const CHUNK = 50_000;
      for (let a = 0; a < s.steps; a += CHUNK) {
        let text = '';
        for (let st = a; st < Math.min(a + CHUNK, s.steps); st++) text += `${T0 + st * 1000} ${fixtureValue(r, m, st)} ${st}\n`;
        fs.writeSync(fd, text);
      }
      fs.closeSync(fd);
    }
  }
  return s.runs * s.metrics * s.steps;
}

function varint(n: number, out: number[]): void {
  while (n > 0x7f) {
    out.push((n & 0x7f) | 0x80);
    n = Math.floor(n / 128);
  }
  out.push(n);
}

function lengthDelimited(field: number, body: Uint8Array | number[], out: number[]): void {
  out.push((field << 3) | 2);
  varint(body.length, out);
  for (const b of body) out.push(b);
}

/** An Event{wall_time, step, summary{value{tag, simple_value}}} in protobuf wire format. */
export function scalarEvent(wallTimeS: number, step: number, tag: string, value: number): Uint8Array {
  const v: number[] = [];
  lengthDelimited(1, Buffer.from(tag, 'utf8'), v); // Summary.Value.tag
  const f = Buffer.alloc(4);
  f.writeFloatLE(value);
  v.push((2 << 3) | 5, ...f); // simple_value, fixed32
  const summary: number[] = [];
  lengthDelimited(1, v, summary);
  const ev: number[] = [];
  const d = Buffer.alloc(8);
  d.writeDoubleLE(wallTimeS);
  ev.push((1 << 3) | 1, ...d); // wall_time, fixed64
  ev.push(2 << 3); // step, varint
  varint(step, ev);
  lengthDelimited(5, summary, ev);
  return Uint8Array.from(ev);
}

function versionEvent(wallTimeS: number): Uint8Array {
  const ev: number[] = [];
  const d = Buffer.alloc(8);
  d.writeDoubleLE(wallTimeS);
  ev.push((1 << 3) | 1, ...d);
  lengthDelimited(3, Buffer.from('brain.Event:2'), ev);
  return Uint8Array.from(ev);
}

/** `<dir>/run-<i>/events.out.tfevents.<t>.bench`: a file_version event, then one event per (step, tag). */
export function writeTfevents(dir: string, s: FixtureShape): number {
  for (let r = 0; r < s.runs; r++) {
    const runDir = path.join(dir, `run-${r}`);
    fs.mkdirSync(runDir, { recursive: true });
    const fd = fs.openSync(path.join(runDir, `events.out.tfevents.${T0 / 1000}.bench`), 'w');
    let parts: Buffer[] = [frameRecord(versionEvent(T0 / 1000))];
    let size = 0;
    for (let st = 0; st < s.steps; st++) {
      for (let m = 0; m < s.metrics; m++) {
        const rec = frameRecord(scalarEvent(T0 / 1000 + st, st, `m${m}`, fixtureValue(r, m, st)));
        parts.push(rec);
        size += rec.length;
      }
      if (size > 8 << 20) {
        fs.writeSync(fd, Buffer.concat(parts));
        parts = [];
        size = 0;
      }
    }
    fs.writeSync(fd, Buffer.concat(parts));
    fs.closeSync(fd);
  }
  return s.runs * s.metrics * s.steps;
}
