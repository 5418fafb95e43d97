import { describe, expect, it } from "vitest";
import { imageRun, NoCommandError, UnknownUserError } from "./image-spec.js";

const config = { entrypoint: ["/usr/bin/server"], cmd: ["--port", "9000"], env: ["PATH=/app/bin:/usr/bin", "MODE=image", "EMPTY="], workingDir: "/app", user: "" };
const accounts = { passwd: "root:x:0:0:root:/root:/bin/sh\napp:x:1000:2000:app:/home/app:/bin/sh\n", group: "root:x:0:\napp:x:2000:\nstaff:x:50:\n" };
const env = { function: { MODE: "function", NAME: "fn" }, platform: { FC_FUNCTION_NAME: "fn" } };

describe("an image as a function", () => {
  it("runs Entrypoint + Cmd in WorkingDir, with the image's environment under the function's and FC's", () => {
    expect(imageRun(config, {}, env, accounts)).toEqual({
      command: ["/usr/bin/server", "--port", "9000"],
      cwd: "/app",
      env: { PATH: "/app/bin:/usr/bin", HOME: "/root", MODE: "function", EMPTY: "", NAME: "fn", FC_FUNCTION_NAME: "fn" },
      uid: 0,
      gid: 0,
    });
  });

  it("follows Kubernetes' rule for FC's overrides: command replaces Entrypoint and drops Cmd, args replace Cmd", () => {
    expect(imageRun(config, { command: ["/bin/other"] }, env, accounts).command).toEqual(["/bin/other"]);
    expect(imageRun(config, { command: ["/bin/other"], args: ["-v"] }, env, accounts).command).toEqual(["/bin/other", "-v"]);
    expect(imageRun(config, { args: ["--port", "8080"] }, env, accounts).command).toEqual(["/usr/bin/server", "--port", "8080"]);
  });

  it("refuses an image with nothing to run", () => {
    expect(() => imageRun({ ...config, entrypoint: [], cmd: [] }, {}, env, accounts)).toThrow(NoCommandError);
    expect(() => imageRun({ ...config, entrypoint: [], cmd: [] }, { args: [] }, env, accounts)).toThrow(NoCommandError);
  });

  it("resolves the image's user from its own accounts, as Docker reads User", () => {
    expect(imageRun({ ...config, user: "app" }, {}, env, accounts)).toMatchObject({ uid: 1000, gid: 2000, env: { HOME: "/home/app" } });
    expect(imageRun({ ...config, user: "1000" }, {}, env, accounts)).toMatchObject({ uid: 1000, gid: 2000 });
    expect(imageRun({ ...config, user: "4242" }, {}, env, accounts)).toMatchObject({ uid: 4242, gid: 0, env: { HOME: "/" } });
    expect(imageRun({ ...config, user: "app:staff" }, {}, env, accounts)).toMatchObject({ uid: 1000, gid: 50 });
    expect(imageRun({ ...config, user: "1000:77" }, {}, env, accounts)).toMatchObject({ uid: 1000, gid: 77 });
    expect(() => imageRun({ ...config, user: "ghost" }, {}, env, accounts)).toThrow(UnknownUserError);
    expect(() => imageRun({ ...config, user: "app:ghosts" }, {}, env, accounts)).toThrow(UnknownUserError);
  });

  it("gives an image without PATH Docker's, and without WorkingDir /", () => {
    expect(imageRun({ ...config, env: [], workingDir: "" }, {}, { function: {}, platform: {} }, { passwd: "", group: "" })).toMatchObject({
      cwd: "/",
      env: { PATH: "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" },
    });
  });
});
