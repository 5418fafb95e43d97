import { describe, expect, it } from "vitest";
import { effectiveFunction } from "../effective-function.js";
import { instanceClass } from "../instance-class.js";
import { Limits } from "../limits.js";
import { dropNulls, parseOrThrow } from "../validation.js";
import {
  containerConfigWithDefaults,
  mergeContainerConfig,
  readJsonStringArray,
} from "./custom-container.js";
import { checkFunctionUpdate, CreateFunctionBody, functionView, UpdateFunctionBody, type FunctionRecord } from "./function.js";

const IMAGE = "127.0.0.1:5000/team/app:v1";
const DIGEST = `sha256:${"a".repeat(64)}`;
const base = { functionName: "img", runtime: "custom-container", customContainerConfig: { image: IMAGE } };

function create(extra: Record<string, unknown>) {
  return parseOrThrow(CreateFunctionBody, dropNulls({ ...base, ...extra }));
}
function refusal(call: () => unknown): { code: string; message: string } {
  try {
    call();
  } catch (err) {
    return err as { code: string; message: string };
  }
  throw new Error("expected InvalidArgument");
}

function record(extra: Partial<FunctionRecord> = {}): FunctionRecord {
  return {
    serviceName: "svc",
    functionName: "img",
    functionId: "id",
    runtime: "custom-container",
    handler: "index.handler",
    caPort: 9000,
    codeSize: 0,
    codeChecksum: "",
    codeSha256: "",
    createdTime: "t",
    lastModifiedTime: "t",
    customContainerConfig: containerConfigWithDefaults({ image: IMAGE }),
    resolvedImage: { reference: IMAGE, digest: DIGEST, pinned: `127.0.0.1:5000/team/app@${DIGEST}` },
    ...extra,
  };
}

describe("readJsonStringArray (FC's string-typed command and args)", () => {
  it("reads a JSON array of strings, and '' as unset", () => {
    expect(readJsonStringArray('["/code/myserver", "--port", "9000"]')).toEqual(["/code/myserver", "--port", "9000"]);
    expect(readJsonStringArray("[]")).toEqual([]);
    expect(readJsonStringArray("")).toBeUndefined();
    expect(readJsonStringArray("  ")).toBeUndefined();
  });

  it.each([
    ["/code/myserver", "is not JSON"],
    ['"/code/myserver"', "JSON array of strings"],
    ['{"a": 1}', "JSON array of strings"],
    ['["a", 1]', "entry 1 is number"],
    ['["a", null]', "entry 1 is null"],
    ['[["nested"]]', "entry 0 is object"],
    ['["a\\u0000b"]', "NUL"],
    [JSON.stringify(Array.from({ length: Limits.containerCommandEntries + 1 }, () => "x")), "at most"],
    [JSON.stringify(["x".repeat(Limits.containerCommandEntryChars + 1)]), "longer than"],
    [JSON.stringify(["x".repeat(Limits.containerCommandChars)]), `at most ${Limits.containerCommandChars} characters`],
  ])("refuses %s", (text, why) => {
    const read = readJsonStringArray(text);
    expect(read).toMatchObject({ error: expect.stringContaining(why) });
  });
});

describe("CreateFunctionBody with runtime custom-container", () => {
  it("needs no handler and no code; FC's fields are kept as given", () => {
    const body = create({ customContainerConfig: { image: IMAGE, command: '["/srv"]', args: '["-v"]', accelerationType: "None", instanceID: "cri-1", webServerMode: "false" } });
    expect(body.handler).toBeUndefined();
    expect(body.code).toBeUndefined();
    expect(body.customContainerConfig).toEqual({ image: IMAGE, command: '["/srv"]', args: '["-v"]', accelerationType: "None", instanceID: "cri-1", webServerMode: false });
  });

  it("drops fields FC reports but clients do not set (a GetFunction answer sent back)", () => {
    const body = create({ customContainerConfig: { image: IMAGE, accelerationInfo: { status: "Ready" }, resolvedImageUri: "x@sha256:1" } });
    expect(body.customContainerConfig).toEqual({ image: IMAGE });
  });

  it.each([
    ["no customContainerConfig", { customContainerConfig: undefined }, "customContainerConfig: is required"],
    ["no image", { customContainerConfig: { command: '["/srv"]' } }, "customContainerConfig.image: is required"],
    ["an empty image", { customContainerConfig: { image: "" } }, "customContainerConfig.image: is required"],
    ["an image with spaces", { customContainerConfig: { image: "my image" } }, "customContainerConfig.image: must be an image reference"],
    ["an image too long", { customContainerConfig: { image: `r/${"a".repeat(Limits.containerImageChars)}` } }, "at most"],
    ["command not JSON", { customContainerConfig: { image: IMAGE, command: "/srv --port 9000" } }, "customContainerConfig.command: must be a JSON array of strings"],
    ["command as an array", { customContainerConfig: { image: IMAGE, command: ["/srv"] } }, "customContainerConfig.command: must be a string holding a JSON array"],
    ["args with a number", { customContainerConfig: { image: IMAGE, args: '["-p", 9000]' } }, "customContainerConfig.args: must be a JSON array of strings; entry 1 is number"],
    ["an unknown accelerationType", { customContainerConfig: { image: IMAGE, accelerationType: "Fast" } }, 'customContainerConfig.accelerationType: is set to an invalid value "Fast"; valid values: Default, None'],
    ["webServerMode not a boolean", { customContainerConfig: { image: IMAGE, webServerMode: "yes" } }, "customContainerConfig.webServerMode: must be a boolean"],
    ["code", { code: { zipFile: "UEsFBgAAAAAAAAAAAAAAAAAAAAAAAA==" } }, "code: is not allowed with runtime custom-container"],
    ["layers", { layers: ["acs:fc:r:1:layers/l/versions/1"] }, "layers: are not supported with runtime custom-container"],
    ["customRuntimeConfig", { customRuntimeConfig: { command: ["x"] } }, "customRuntimeConfig: is not allowed with runtime custom-container"],
  ])("refuses %s", (_label, extra, message) => {
    const err = refusal(() => create(extra));
    expect(err.code).toBe("InvalidArgument");
    expect(err.message).toContain(message);
  });

  it("refuses customContainerConfig with another runtime, and still wants a code function's handler and code", () => {
    const zip = { zipFile: "UEsFBgAAAAAAAAAAAAAAAAAAAAAAAA==" };
    expect(refusal(() => create({ runtime: "nodejs20", handler: "index.handler", code: zip })).message).toContain(
      "customContainerConfig: is only allowed with runtime custom-container",
    );
    const code = { functionName: "f", runtime: "nodejs20" };
    expect(refusal(() => parseOrThrow(CreateFunctionBody, { ...code, code: zip })).message).toBe("handler: is required");
    expect(refusal(() => parseOrThrow(CreateFunctionBody, { ...code, handler: "index.handler" })).message).toBe("code: is required");
  });
});

describe("updates of image and code functions", () => {
  const nodeFn = record({ runtime: "nodejs20", customContainerConfig: undefined, resolvedImage: undefined, codeSha256: "abc" });
  const update = (body: Record<string, unknown>) => parseOrThrow(UpdateFunctionBody, body);

  it("keeps a function an image function or a code function", () => {
    expect(refusal(() => checkFunctionUpdate(record(), update({ runtime: "nodejs20" }))).message).toContain("cannot change from 'custom-container' to 'nodejs20'");
    expect(refusal(() => checkFunctionUpdate(nodeFn, update({ runtime: "custom-container", customContainerConfig: { image: IMAGE } }))).message).toContain(
      "cannot change from 'nodejs20' to 'custom-container'",
    );
    expect(() => checkFunctionUpdate(record(), update({ runtime: "custom-container", memorySize: 256 }))).not.toThrow();
    expect(() => checkFunctionUpdate(nodeFn, update({ runtime: "nodejs18" }))).not.toThrow();
  });

  it("refuses code for an image function and customContainerConfig for a code function", () => {
    expect(refusal(() => checkFunctionUpdate(record(), update({ code: { zipFile: "UEsF" } }))).message).toContain("code: is not allowed");
    expect(refusal(() => checkFunctionUpdate(record(), update({ layers: ["acs:fc:r:1:layers/l/versions/1"] }))).message).toContain("layers:");
    expect(refusal(() => checkFunctionUpdate(nodeFn, update({ customContainerConfig: { command: "[]" } }))).message).toContain(
      "customContainerConfig: is only allowed with runtime custom-container, and this function's runtime is 'nodejs20'",
    );
  });

  it("changes only the container fields sent", () => {
    const current = containerConfigWithDefaults({ image: IMAGE, command: '["/a"]', instanceID: "cri-1" });
    const patch = update({ customContainerConfig: { args: '["-v"]', webServerMode: false } }).customContainerConfig ?? {};
    expect(mergeContainerConfig(current, patch)).toEqual({ image: IMAGE, command: '["/a"]', args: '["-v"]', instanceID: "cri-1", accelerationType: "Default", webServerMode: false });
  });
});

describe("an image function as the API reports it and as instances run it", () => {
  it("reports FC's CustomContainerConfigInfo with defaults, the pinned image and the acceleration status", () => {
    const view = functionView(record(), (digest) => (digest === DIGEST ? "Ready" : "Preparing"));
    expect(view).toMatchObject({
      runtime: "custom-container",
      handler: "index.handler",
      caPort: 9000,
      codeSize: 0,
      codeChecksum: "",
      customContainerConfig: {
        image: IMAGE,
        command: "",
        args: "",
        accelerationType: "Default",
        accelerationInfo: { status: "Ready" },
        instanceID: "",
        webServerMode: true,
        resolvedImageUri: `127.0.0.1:5000/team/app@${DIGEST}`,
      },
    });
    expect(view.customRuntimeConfig).toBeUndefined();
    expect(functionView(record()).customContainerConfig?.accelerationInfo).toEqual({ status: "Preparing" });
  });

  it("gives instances the pinned image and the command as arrays", () => {
    const fn = effectiveFunction(record({ customContainerConfig: containerConfigWithDefaults({ image: IMAGE, command: '["/srv"]', webServerMode: false }) }));
    expect(fn.container).toEqual({ pinned: `127.0.0.1:5000/team/app@${DIGEST}`, digest: DIGEST, command: ["/srv"], args: undefined, webServerMode: false });
    expect(fn.custom).toBe(false);
  });

  it("puts the digest and the container's start-up into the instance class", () => {
    const cls = instanceClass(record());
    const moved = `sha256:${"b".repeat(64)}`;
    expect(instanceClass(record({ resolvedImage: { reference: IMAGE, digest: moved, pinned: `127.0.0.1:5000/team/app@${moved}` } }))).not.toBe(cls);
    expect(instanceClass(record({ customContainerConfig: containerConfigWithDefaults({ image: IMAGE, args: '["-v"]' }) }))).not.toBe(cls);
    expect(instanceClass(record({ customContainerConfig: containerConfigWithDefaults({ image: IMAGE, webServerMode: false }) }))).not.toBe(cls);
    expect(instanceClass(record({ caPort: 8080 }))).not.toBe(cls);
    // What only the API reports does not make new instances.
    expect(instanceClass(record({ customContainerConfig: containerConfigWithDefaults({ image: IMAGE, accelerationType: "None" }) }))).toBe(cls);
  });
});
