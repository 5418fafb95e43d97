import { describe, expect, it } from "vitest";
import { argvText, imageSpec } from "./deploy-image.js";

describe("argvText", () => {
  it("takes a JSON array, a YAML list or words, and gives FC's JSON-array text", () => {
    expect(argvText('["/app/server", "--name", "two words"]', "--command")).toBe('["/app/server","--name","two words"]');
    expect(argvText(["/usr/bin/python3", "-u", 9000], "command:")).toBe('["/usr/bin/python3","-u","9000"]');
    expect(argvText("  /app/server   --verbose ", "--command")).toBe('["/app/server","--verbose"]');
  });

  it("is empty (the image's own command) when unset or blank", () => {
    expect(argvText(undefined, "--command")).toBe("");
    expect(argvText("  ", "--args")).toBe("");
    expect(argvText([], "args:")).toBe("");
  });

  it("refuses text that opens like JSON but is not an array of strings, naming the option", () => {
    expect(() => argvText('["/app/server",', "--command")).toThrow(/^--command is not JSON: '\["\/app\/server",'/);
    expect(() => argvText('{"cmd": "x"}', "--command")).toThrow(/^--command must be an array of strings/);
    expect(() => argvText("[1, 2]", "--args")).toThrow(/^--args must be an array of strings/);
    expect(() => argvText([{ a: 1 }], "command:")).toThrow(/^command: entry 0 must be a string/);
    expect(() => argvText(JSON.stringify(Array.from({ length: 300 }, () => "x")), "--args")).toThrow(/^--args must have at most 256 entries/);
  });
});

describe("imageSpec", () => {
  it("is undefined without an image, and refuses image options without one", () => {
    expect(imageSpec({}, {})).toBeUndefined();
    expect(() => imageSpec({ port: "9001" }, {})).toThrow("--port is for a container image, but no --image or 'image:' names one");
    expect(() => imageSpec({}, { command: ["x"], acceleration: "None" })).toThrow("'command:', 'acceleration:' are for a container image");
  });

  it("sends every option, FC's defaults for those left out, so a deploy says all of what runs", () => {
    expect(imageSpec({ image: "127.0.0.1:5000/a/b:v1" }, {})).toEqual({
      runtime: "custom-container",
      caPort: 9000,
      customContainerConfig: { image: "127.0.0.1:5000/a/b:v1", command: "", args: "", accelerationType: "Default", webServerMode: true },
    });
  });

  it("reads nimbus.yaml's keys, the flags winning", () => {
    const manifest = { image: "r/yaml:1", port: 8080, command: ["/bin/server"], args: "--fast", acceleration: "none", webServerMode: false };
    expect(imageSpec({}, manifest)).toEqual({
      runtime: "custom-container",
      caPort: 8080,
      customContainerConfig: { image: "r/yaml:1", command: '["/bin/server"]', args: '["--fast"]', accelerationType: "None", webServerMode: false },
    });
    expect(imageSpec({ image: "r/flag:2", port: "9001", "web-server-mode": "true" }, manifest)?.customContainerConfig).toMatchObject({ image: "r/flag:2", webServerMode: true });
    expect(imageSpec({}, { image: "r/x:1", caPort: 7000 })?.caPort).toBe(7000);
  });

  it("refuses bad values with the option and what it takes", () => {
    expect(() => imageSpec({ image: " " }, {})).toThrow("--image is empty");
    expect(() => imageSpec({ image: "r/x:1", port: "90a" }, {})).toThrow(/--port \(or 'port:'\) .* 1–65535; got "90a"/);
    expect(() => imageSpec({ image: "r/x:1", acceleration: "Eager" }, {})).toThrow("--acceleration (or 'acceleration:') is Default or None");
    expect(() => imageSpec({ image: "r/x:1", "web-server-mode": "yes" }, {})).toThrow("--web-server-mode (or 'webServerMode:') is true or false");
    expect(() => imageSpec({}, { image: 5 })).toThrow("'image:' in nimbus.yaml must be a string");
  });
});
