import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { chromium, type Browser, type Page } from "playwright-core";
import { makeZip } from "@nimbus/testkit";
import { useCluster } from "../helpers/cluster.js";
import { deploy, eventually } from "../helpers/functions.js";

// The console against real services, in Debian's Chromium driven by playwright-core. The gateway
// takes code up to 256 KB here, so the size check can be seen refusing an upload before it is sent.
const ctx = useCluster({
  services: ["gateway", "invoker", "async-queue", "trigger-router", "log-collector"],
  env: { NIMBUS_LOG_LEVEL: "warn", NIMBUS_MAX_CODE_ZIP_BYTES: String(256 * 1024) },
});
const SHOTS = join(import.meta.dirname, "..", "..", "docs", "console");
const CHROMIUM = process.env.NIMBUS_CHROMIUM ?? "/usr/bin/chromium";

let browser: Browser;
let page: Page;
/** Every URL the page requested (to prove the secret never travels in one). */
const requested: string[] = [];

beforeAll(async () => {
  await mkdir(SHOTS, { recursive: true });
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"] });
  page = await browser.newPage({ viewport: { width: 1366, height: 860 } });
  page.on("request", (r) => requested.push(`${r.method()} ${r.url()}`));
  // What the page itself complains of shows in the test's output.
  page.on("pageerror", (err) => console.log(`page error: ${err.message}`));
  page.on("response", async (r) => {
    if (r.status() >= 400) console.log(`page got ${r.status()} for ${r.request().method()} ${r.url()}: ${(await r.text().catch(() => "")).slice(0, 300)}`);
  });
});
afterAll(async () => {
  await browser?.close();
});

const base = () => `${ctx.cluster.endpoint()}/console/`;
const shot = (name: string) => page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: false });

async function signIn(id: string, secret: string): Promise<void> {
  await page.goto(base());
  await page.fill("input[name=accessKeyId]", id);
  await page.fill("input[name=accessKeySecret]", secret);
  await page.click("button[type=submit]");
}

describe("the web console in Chromium", () => {
  it("refuses a wrong key with FC's error, then signs in; the secret is in session storage only", async () => {
    const { accessKeyId, accessKeySecret } = ctx.cluster.credentials;
    await signIn(accessKeyId, "not-the-secret");
    await expect(page.getByTestId("error").textContent({ timeout: 10_000 })).resolves.toMatch(/SignatureNotMatch.*request [0-9a-f-]{36}/);
    await signIn(accessKeyId, accessKeySecret);
    await page.getByRole("heading", { name: "Overview" }).waitFor();
    // (Expressions run in the page: this suite is compiled without the DOM's types.)
    const stored = (await page.evaluate("({ session: JSON.stringify(sessionStorage), local: JSON.stringify(localStorage), cookie: document.cookie })")) as { session: string; local: string; cookie: string };
    expect(stored.session).toContain(accessKeySecret);
    expect(stored.local).not.toContain(accessKeySecret);
    expect(stored.cookie).toBe("");
  });

  it("deploys a function from a zip, invokes it and shows its log line", async () => {
    await page.getByTestId("new-function").click();
    await page.fill("input[name=serviceName]", "web");
    await page.fill("input[name=functionName]", "hello");
    const zip = await makeZip({ "index.js": "exports.handler = (e, c, cb) => { console.log('hello from the console ' + e); cb(null, 'got ' + e); };" });
    await page.setInputFiles("input[name=code]", { name: "hello.zip", mimeType: "application/zip", buffer: zip });
    await page.getByTestId("create-function").click();
    await page.getByTestId("invoke").waitFor();
    expect(page.url()).toContain("#/services/web/functions/hello/invoke");
    await page.fill("textarea[name=event]", "ping");
    await page.getByTestId("invoke").click();
    await expect(page.getByTestId("response").textContent()).resolves.toBe("got ping");
    await expect(page.getByTestId("log-tail").textContent()).resolves.toContain("hello from the console ping");
    expect(await page.getByTestId("request-id").textContent()).toMatch(/^[0-9a-f-]{36}$/);
    await shot("invoke");
  });

  it("refuses an upload over the size limit before sending it, naming the limit", async () => {
    await page.goto(`${base()}#/services/web/functions/hello/code`);
    const before = requested.length;
    const big = await makeZip({ "index.js": "exports.handler = (e, c, cb) => cb(null, 'big');", "noise.bin": Buffer.from(Array.from({ length: 400 * 1024 }, () => Math.floor(Math.random() * 256))) });
    await page.setInputFiles("[data-testid=upload-zip]", { name: "big.zip", mimeType: "application/zip", buffer: big });
    await expect(page.getByTestId("error").textContent()).resolves.toMatch(/over the limit of 262144 bytes.*nothing was sent/);
    expect(requested.slice(before).filter((r) => r.startsWith("PUT ") || r.startsWith("POST "))).toEqual([]);
  });

  it("follows the logs live while the function is invoked through the API", async () => {
    await page.goto(`${base()}#/services/web/functions/hello/logs`);
    await page.getByTestId("follow").click();
    await page.getByTestId("following").waitFor();
    const client = ctx.cluster.client();
    await eventually(async () => {
      await client.invokeFunction("web", "hello", "live");
      await page.locator("[data-testid=log-lines] >> text=hello from the console live").first().waitFor({ timeout: 2_000 });
    }, "a live line");
    await shot("logs");
    await page.getByTestId("stop-follow").click();
  });

  it("publishes versions and shifts 30% of an alias to the new one", async () => {
    await page.goto(`${base()}#/services/web/functions/hello/releases`);
    await page.getByTestId("publish-version").click();
    await page.getByTestId("version-1").waitFor();
    await page.fill("input[name=aliasName]", "prod");
    await page.locator("form select").last().selectOption("1");
    await page.getByTestId("create-alias").click();
    await page.getByTestId("alias-prod").waitFor();
    // A change, then version 2.
    await ctx.cluster.client().updateFunction("web", "hello", { description: "v2" });
    await page.getByTestId("publish-version").click();
    await page.getByTestId("version-2").waitFor();
    const alias = page.getByTestId("alias-prod");
    await alias.getByTestId("canary-version").selectOption("2");
    await alias.getByTestId("canary-weight").fill("30");
    await alias.getByTestId("save-alias").click();
    await eventually(async () => expect((await ctx.cluster.client().getAlias("web", "prod")).data).toMatchObject({ versionId: "1", additionalVersionWeight: { "2": 0.3 } }), "the alias shifted");
    await shot("releases");
  });

  it("creates a timer trigger, shows when it fires next, and sees it fire", async () => {
    await page.goto(`${base()}#/services/web/functions/hello/triggers`);
    await page.fill("input[name=triggerName]", "tick");
    await page.fill("textarea[name=triggerConfig]", JSON.stringify({ cronExpression: "@every 2s", payload: "tick", enable: true }));
    await page.getByTestId("create-trigger").click();
    await page.getByTestId("trigger-tick").getByTestId("next-fires").waitFor();
    // A bad expression: FC's message, code and request id.
    await page.fill("input[name=triggerName]", "bad");
    await page.fill("textarea[name=triggerConfig]", JSON.stringify({ cronExpression: "every now and then" }));
    await page.getByTestId("create-trigger").click();
    await expect(page.getByTestId("error").first().textContent()).resolves.toMatch(/InvalidArgument.*cronExpression.*request/);
    await shot("triggers");
    await page.goto(`${base()}#/services/web/functions/hello/logs`);
    await eventually(
      async () => {
        await page.getByRole("button", { name: "Search" }).click();
        // FC's timer event, as the function printed it.
        expect(await page.locator("[data-testid=log-lines]").textContent()).toMatch(/hello from the console \{"triggerTime":"[^"]+","triggerName":"tick","payload":"tick"\}/);
      },
      "the timer's run in the logs",
      30_000,
    );
    await ctx.cluster.client().deleteTrigger("web", "hello", "tick");
  });

  it("stops a running async invocation", async () => {
    const client = await deploy(ctx.cluster, "web", "slow", { "index.js": "exports.handler = (e, c, cb) => setTimeout(() => cb(null, 'done'), 20000);" }, { timeout: 60 });
    await client.putFunctionAsyncConfig("web", "slow", undefined, { statefulInvocation: true });
    const res = await client.invokeFunction("web", "slow", "x", { async: true, headers: { "x-fc-stateful-async-invocation-id": "long-one" } });
    expect(res.status).toBe(202);
    await page.goto(`${base()}#/services/web/functions/slow/async/long-one`);
    await eventually(async () => expect(await page.getByTestId("invocation-status").textContent()).toBe("Running"), "running", 30_000);
    await shot("async");
    await page.getByTestId("stop-invocation").click();
    await eventually(async () => expect(await page.getByTestId("invocation-status").textContent()).toBe("Stopped"), "stopped", 30_000);
  });

  it("shows HTML in names, logs and payloads as text and never runs it", async () => {
    const evil = "<img src=x onerror=\"window.__xss=1\"><script>window.__xss=2</script>";
    const client = await deploy(ctx.cluster, "web", "evil", { "index.js": `exports.handler = (e, c, cb) => { console.log(${JSON.stringify(evil)}); cb(null, String(e)); };` }, { description: evil });
    await client.invokeFunction("web", "evil", evil);
    await page.goto(`${base()}#/services/web/functions/evil/invoke`);
    await page.fill("textarea[name=event]", evil);
    await page.getByTestId("invoke").click();
    await expect(page.getByTestId("response").textContent()).resolves.toBe(evil);
    await expect(page.getByTestId("log-tail").textContent()).resolves.toContain(evil);
    await page.goto(`${base()}#/services/web/functions/evil/config`);
    await expect(page.locator("input[name=description]").inputValue()).resolves.toBe(evil);
    await page.goto(`${base()}#/services/web/functions/evil/logs`);
    await page.locator("[data-testid=log-lines] >> text=onerror").first().waitFor({ timeout: 30_000 });
    expect(await page.evaluate("window.__xss")).toBeUndefined();
    expect(await page.locator("[data-testid=log-lines] img").count()).toBe(0);
  });

  it("shows the overview, metrics and instances, says when the gateway is gone, and recovers", async () => {
    await page.goto(`${base()}#/`);
    await page.getByTestId("fn-web-hello").waitFor();
    await shot("overview");
    await page.goto(`${base()}#/services/web/functions/hello/metrics`);
    await page.getByTestId("chart-Invocations").waitFor();
    await shot("metrics");
    // Per alias: the calls made on prod (none yet).
    await page.getByTestId("metrics-qualifier").selectOption("prod");
    await page.getByTestId("chart-Invocations").waitFor();
    await page.goto(`${base()}#/services/web/functions/hello/instances`);
    await page.locator("[data-testid^=instance-]").first().waitFor({ timeout: 20_000 });
    await shot("instances");
    await page.goto(`${base()}#/services/web/functions/hello/config`);
    // The gateway goes away, and comes back on the same address (the page's origin).
    const port = new URL(ctx.cluster.endpoint()).port;
    await ctx.cluster.service("gateway").stop();
    await page.getByTestId("offline").waitFor({ timeout: 20_000 });
    await ctx.cluster.startService("gateway", { NIMBUS_PORT: port });
    await page.getByTestId("offline").waitFor({ state: "detached", timeout: 30_000 });
    await page.locator("input[name=handler]").waitFor();
  });

  it("never puts the secret in a URL, and forgets it on sign-out", async () => {
    const { accessKeySecret } = ctx.cluster.credentials;
    expect(requested.length).toBeGreaterThan(20);
    expect(requested.filter((u) => u.includes(accessKeySecret) || u.includes(encodeURIComponent(accessKeySecret)))).toEqual([]);
    await page.getByTestId("sign-out").click();
    await page.locator("input[name=accessKeyId]").waitFor();
    expect(await page.evaluate("JSON.stringify(sessionStorage)")).not.toContain(accessKeySecret);
  });
});
