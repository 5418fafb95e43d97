import { describe, expect, it } from "vitest";
import { Limits } from "./limits.js";
import { assertJsonDepth, assertNoPrototypeKeys, dropNulls } from "./validation.js";

const nested = (depth: number) => `${"[".repeat(depth)}${"]".repeat(depth)}`;
const refusal = expect.objectContaining({ code: "InvalidArgument", message: expect.stringContaining(`deeper than ${Limits.jsonDepth}`) });

describe("JSON nesting bound", () => {
  it("takes a body at the bound and refuses one level more, arrays or objects", () => {
    expect(() => assertJsonDepth(nested(Limits.jsonDepth))).not.toThrow();
    expect(() => assertJsonDepth(nested(Limits.jsonDepth + 1))).toThrow(refusal);
    expect(() => assertJsonDepth(`${'{"a":'.repeat(Limits.jsonDepth + 1)}1${"}".repeat(Limits.jsonDepth + 1)}`)).toThrow(refusal);
    expect(() => assertJsonDepth(nested(100_000))).toThrow(refusal);
  });

  it("does not count brackets inside strings, escaped quotes included", () => {
    const text = JSON.stringify({ a: "[".repeat(1000), b: `\\"${"{".repeat(1000)}`, c: [[["x"]]] });
    expect(() => assertJsonDepth(text)).not.toThrow();
  });

  it("bounds the walks over parsed values too", () => {
    let deep: unknown = 1;
    for (let i = 0; i < 100_000; i++) deep = [deep];
    expect(() => assertNoPrototypeKeys(deep)).toThrow(refusal);
    expect(() => dropNulls(deep)).toThrow(refusal);
    expect(dropNulls({ a: [{ b: null, c: 1 }], d: null })).toEqual({ a: [{ c: 1 }] });
  });
});
