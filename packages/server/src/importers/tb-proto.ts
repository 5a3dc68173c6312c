import protobuf from 'protobufjs';

/*
 * The few TensorFlow / TensorBoard messages an event file needs, with their upstream field numbers
 * (tensorflow/core/util/event.proto, framework/summary.proto, framework/tensor.proto,
 * tensorboard/plugins/hparams/plugin_data.proto, google/protobuf/struct.proto). Fields we do not
 * read are left out: protobufjs skips unknown fields, so images, histograms and graphs cost only
 * their length prefix.
 */
const PROTO = `
syntax = "proto3";
package tensorboard;

message Event {
  double wall_time = 1;
  int64 step = 2;
  string file_version = 3;
  Summary summary = 5;
}
message Summary {
  repeated Value value = 1;
  message Value {
    string tag = 1;
    oneof value {
      float simple_value = 2;
      TensorProto tensor = 8;
    }
    SummaryMetadata metadata = 9;
  }
}
message SummaryMetadata {
  PluginData plugin_data = 1;
  message PluginData {
    string plugin_name = 1;
    bytes content = 2;
  }
}
message TensorProto {
  int32 dtype = 1;
  TensorShapeProto tensor_shape = 2;
  bytes tensor_content = 4;
  repeated float float_val = 5;
  repeated double double_val = 6;
  repeated int32 int_val = 7;
  repeated int64 int64_val = 10;
}
message TensorShapeProto {
  repeated Dim dim = 2;
  message Dim { int64 size = 1; }
}
message HParamsPluginData {
  int32 version = 1;
  SessionStartInfo session_start_info = 3;
  SessionEndInfo session_end_info = 4;
}
message SessionStartInfo {
  map<string, PbValue> hparams = 1;
  double start_time_secs = 5;
}
message SessionEndInfo {
  int32 status = 1;
  double end_time_secs = 2;
}
message PbValue {
  oneof kind {
    int32 null_value = 1;
    double number_value = 2;
    string string_value = 3;
    bool bool_value = 4;
    PbStruct struct_value = 5;
    PbList list_value = 6;
  }
}
message PbStruct { map<string, PbValue> fields = 1; }
message PbList { repeated PbValue values = 1; }
`;

// int64 fields as JS numbers (steps stay below 2^53): without Long, protobufjs decodes to numbers
protobuf.util.Long = undefined as never;
protobuf.configure();

const root = protobuf.parse(PROTO, { keepCase: true }).root;
export const EventType = root.lookupType('tensorboard.Event');
export const HParamsType = root.lookupType('tensorboard.HParamsPluginData');

export interface PbValue {
  null_value?: number;
  number_value?: number;
  string_value?: string;
  bool_value?: boolean;
  struct_value?: { fields?: Record<string, PbValue> };
  list_value?: { values?: PbValue[] };
}
export interface TensorProto {
  dtype?: number;
  tensor_shape?: { dim?: { size?: number }[] };
  tensor_content?: Uint8Array;
  float_val?: number[];
  double_val?: number[];
  int_val?: number[];
  int64_val?: number[];
}
export interface SummaryValue {
  tag?: string;
  simple_value?: number;
  tensor?: TensorProto;
  metadata?: { plugin_data?: { plugin_name?: string; content?: Uint8Array } };
}
export interface Event {
  wall_time?: number;
  step?: number;
  file_version?: string;
  summary?: { value?: SummaryValue[] };
}
export interface HParamsData {
  session_start_info?: { hparams?: Record<string, PbValue>; start_time_secs?: number };
  session_end_info?: { status?: number; end_time_secs?: number };
}

/** google.protobuf.Value → plain JSON. Decoded messages carry only the fields on the wire as own properties (defaults sit on the prototype). */
export function jsonOf(v: PbValue | undefined): unknown {
  if (!v) return null;
  if (Object.hasOwn(v, 'number_value')) return v.number_value;
  if (Object.hasOwn(v, 'string_value')) return v.string_value;
  if (Object.hasOwn(v, 'bool_value')) return v.bool_value;
  if (v.struct_value) return Object.fromEntries(Object.entries(v.struct_value.fields ?? {}).map(([k, x]) => [k, jsonOf(x)]));
  if (v.list_value) return (v.list_value.values ?? []).map(jsonOf);
  return null;
}

const DT_FLOAT = 1;
const DT_DOUBLE = 2;
const DT_INT32 = 3;
const DT_INT64 = 9;

/** The number a one-element numeric tensor holds (TF2 `tf.summary.scalar`), else undefined. */
export function tensorScalar(t: TensorProto): number | undefined {
  const dims = t.tensor_shape?.dim ?? [];
  if (dims.some((d) => Number(d.size ?? 0) !== 1)) return undefined;
  const c = t.tensor_content;
  const view = c && c.length ? new DataView(c.buffer, c.byteOffset, c.length) : undefined;
  switch (t.dtype) {
    case DT_FLOAT: return view ? (c!.length === 4 ? view.getFloat32(0, true) : undefined) : t.float_val?.length === 1 ? t.float_val[0] : undefined;
    case DT_DOUBLE: return view ? (c!.length === 8 ? view.getFloat64(0, true) : undefined) : t.double_val?.length === 1 ? t.double_val[0] : undefined;
    case DT_INT32: return view ? (c!.length === 4 ? view.getInt32(0, true) : undefined) : t.int_val?.length === 1 ? t.int_val[0] : undefined;
    case DT_INT64: return view ? (c!.length === 8 ? Number(view.getBigInt64(0, true)) : undefined) : t.int64_val?.length === 1 ? Number(t.int64_val[0]) : undefined;
  }
  return undefined;
}

/** What decodeScalarEvent fills (reused across records: no object per event). */
export interface ScalarEvent {
  wallTime: number;
  step: number;
  /** The event has a summary (file_version and graph events have none). */
  summary: boolean;
  n: number;
  tags: string[];
  values: number[];
}

export const newScalarEvent = (): ScalarEvent => ({ wallTime: 0, step: 0, summary: false, n: 0, tags: [], values: [] });

/** A varint at b[p…] below 2^49 (7 bytes) as [value, next position]; -1 for longer or truncated ones. */
function varint(b: Uint8Array, p: number, end: number): number {
  let v = 0;
  let mul = 1;
  for (let k = 0; k < 7 && p < end; k++) {
    const x = b[p++];
    v += (x & 0x7f) * mul;
    if (x < 0x80) {
      pos = p;
      return v;
    }
    mul *= 128;
  }
  return -1;
}
let pos = 0; // where varint() stopped (a module slot instead of a returned tuple)

/**
 * Tags repeat on every step: their strings are kept by a hash of their bytes (checked byte by byte
 * on a hit), so the hot path decodes no UTF-8 and allocates no string per value. Writers log a
 * step's tags in the same order every step, so each entry remembers the tag that came after it
 * last time: when that guess matches byte for byte, neither the hash nor the map is needed.
 */
interface TagEntry {
  bytes: Uint8Array;
  tag: string;
  next: TagEntry | undefined;
}
const tagCache = new Map<number, TagEntry>();
let lastTag: TagEntry | undefined;

const sameBytes = (e: TagEntry, b: Uint8Array, start: number, end: number): boolean => {
  const x = e.bytes;
  if (x.length !== end - start) return false;
  for (let i = start; i < end; i++) if (x[i - start] !== b[i]) return false;
  return true;
};

function tagString(b: Uint8Array, start: number, end: number): string {
  const guess = lastTag?.next;
  if (guess && sameBytes(guess, b, start, end)) return (lastTag = guess).tag;
  let h = 0x811c9dc5 ^ (end - start);
  for (let i = start; i < end; i++) h = Math.imul(h ^ b[i], 0x01000193);
  let e = tagCache.get(h);
  if (!e || !sameBytes(e, b, start, end)) {
    if (tagCache.size >= 4096) tagCache.clear();
    e = { bytes: Uint8Array.prototype.slice.call(b, start, end), tag: Buffer.from(b.buffer, b.byteOffset + start, end - start).toString('utf8'), next: undefined };
    tagCache.set(h, e);
  }
  if (lastTag) lastTag.next = e;
  lastTag = e;
  return e.tag;
}

const f32 = new Float32Array(1);
const f32b = new Uint8Array(f32.buffer);
const f64 = new Float64Array(1);
const f64b = new Uint8Array(f64.buffer);

/**
 * The hot path of a tfevents import, by hand: an Event whose summary values are only tag +
 * simple_value (what tensorboardX, PyTorch and TF1 write for every scalar) is decoded straight
 * into `out`. Anything else — tensors, plugin metadata, images, a negative or ≥ 2^49 step, or bytes
 * that are not a well-formed message — returns false, and the caller decodes the record with
 * protobufjs (EventType) as before, so its results and its error messages stay the reference.
 */
export function decodeScalarEvent(b: Buffer, start: number, end: number, out: ScalarEvent): boolean {
  out.wallTime = 0;
  out.step = 0;
  out.summary = false;
  out.n = 0;
  let p = start;
  while (p < end) {
    const key = b[p++];
    if (key === 0x09) { // 1 wall_time, fixed64 double
      if (p + 8 > end) return false;
      for (let i = 0; i < 8; i++) f64b[i] = b[p + i];
      out.wallTime = f64[0];
      p += 8;
    } else if (key === 0x10) { // 2 step, varint
      const v = varint(b, p, end);
      if (v < 0) return false;
      out.step = v;
      p = pos;
    } else if (key === 0x1a) { // 3 file_version, string: skipped
      const len = varint(b, p, end);
      if (len < 0 || pos + len > end) return false;
      p = pos + len;
    } else if (key === 0x2a) { // 5 summary
      const len = varint(b, p, end);
      if (len < 0 || pos + len > end) return false;
      p = pos;
      out.summary = true;
      if (!summaryValues(b, p, p + len, out)) return false;
      p += len;
    } else return false;
  }
  return p === end;
}

function summaryValues(b: Buffer, p: number, end: number, out: ScalarEvent): boolean {
  while (p < end) {
    if (b[p++] !== 0x0a) return false; // 1 value
    const len = varint(b, p, end);
    if (len < 0 || pos + len > end) return false;
    p = pos;
    const vend = p + len;
    let tag = '';
    let value: number | undefined;
    while (p < vend) {
      const key = b[p++];
      if (key === 0x0a) { // 1 tag
        const tl = varint(b, p, vend);
        if (tl < 0 || pos + tl > vend) return false;
        tag = tagString(b, pos, pos + tl);
        p = pos + tl;
      } else if (key === 0x15) { // 2 simple_value, fixed32 float
        if (p + 4 > vend) return false;
        f32b[0] = b[p];
        f32b[1] = b[p + 1];
        f32b[2] = b[p + 2];
        f32b[3] = b[p + 3];
        value = f32[0];
        p += 4;
      } else return false;
    }
    if (p !== vend) return false;
    if (value !== undefined) {
      out.tags[out.n] = tag;
      out.values[out.n] = value;
      out.n++;
    }
  }
  return p === end;
}
