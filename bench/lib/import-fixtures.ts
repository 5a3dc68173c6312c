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

const varintLen = (n: number) => {
  let l = 1;
  while (n > 0x7f) {
    n = Math.floor(n / 128);
    l++;
  }
  return l;
};
function putVarint(b: Buffer, pos: number, n: number): number {
  while (n > 0x7f) {
    b[pos++] = (n & 0x7f) | 0x80;
    n = Math.floor(n / 128);
  }
  b[pos++] = n;
  return pos;
}

/** An Event{wall_time, step, summary{value{tag, simple_value}}} in protobuf wire format, written by hand (fast). */
export function scalarEvent(wallTimeS: number, step: number, tag: string, value: number): Uint8Array {
  const tagLen = Buffer.byteLength(tag);
  const vLen = 1 + varintLen(tagLen) + tagLen + 5; // tag (field 1, len) + simple_value (field 2, fixed32)
  const sLen = 1 + varintLen(vLen) + vLen; // Summary.value (field 1, len)
  const b = Buffer.allocUnsafe(9 + 1 + varintLen(step) + 1 + varintLen(sLen) + sLen);
  b[0] = (1 << 3) | 1; // wall_time, fixed64
  b.writeDoubleLE(wallTimeS, 1);
  b[9] = 2 << 3; // step, varint
  let pos = putVarint(b, 10, step);
  b[pos++] = (5 << 3) | 2; // summary
  pos = putVarint(b, pos, sLen);
  b[pos++] = (1 << 3) | 2;
  pos = putVarint(b, pos, vLen);
  b[pos++] = (1 << 3) | 2;
  pos = putVarint(b, pos, tagLen);
  pos += b.write(tag, pos);
  b[pos++] = (2 << 3) | 5;
  b.writeFloatLE(value, pos);
  return b;
}

function versionEvent(wallTimeS: number): Uint8Array {
  const v = Buffer.from('brain.Event:2');
  const b = Buffer.allocUnsafe(11 + v.length);
  b[0] = (1 << 3) | 1;
  b.writeDoubleLE(wallTimeS, 1);
  b[9] = (3 << 3) | 2; // file_version
  b[10] = v.length;
  v.copy(b, 11);
  return b;
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
