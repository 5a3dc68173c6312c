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
