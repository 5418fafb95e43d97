import { Packr } from "msgpackr";

// One codec for every message that crosses a process boundary on the invocation path. Plain maps
// (no msgpackr records or structure sharing) so any msgpack implementation can read them; binary
// fields travel as msgpack bin, never base64.
const packr = new Packr({ useRecords: false, moreTypes: false, mapsAsObjects: true, encodeUndefinedAsNil: false });

/** msgpack-encodes a message. */
export function encode(value: unknown): Buffer {
  return packr.pack(value);
}

/** Decodes a msgpack message (binary fields come back as Uint8Array/Buffer views). */
export function decode<T = unknown>(data: Uint8Array): T {
  return packr.unpack(data) as T;
}
