import { execFile } from "node:child_process";
import { readdir, readFile, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { parseAllDocuments } from "yaml";
import { DaemonSet, Deployment } from "kubernetes-models/apps/v1";
import { ConfigMap, Namespace, Secret, Service } from "kubernetes-models/v1";
import { PodDisruptionBudget } from "kubernetes-models/policy/v1";

const run = promisify(execFile);
const INFRA = join(import.meta.dirname, "..", "..", "infra");

/** What `systemd-analyze verify` says of a unit (it exits 0 on warnings: the words are the verdict). */
async function verify(unit: string): Promise<string> {
  const { stdout, stderr } = await run("systemd-analyze", ["verify", unit]).catch((err: { stdout: string; stderr: string }) => err);
  return `${stdout}${stderr}`.trim();
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
});
