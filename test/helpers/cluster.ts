import { afterAll, afterEach, beforeAll } from "vitest";
import { TestCluster, type ClusterOptions } from "@nimbus/testkit";
import type FC from "@alicloud/fc2";
import { fcClient } from "./fc.js";

/** A cluster for one suite (started before its tests, stopped after), with the official SDK on it. */
export function useCluster(options: ClusterOptions = {}): { readonly cluster: TestCluster; readonly fc: FC } {
  let cluster: TestCluster | undefined;
  let fc: FC | undefined;
  beforeAll(async () => {
    cluster = await TestCluster.start(options);
    fc = fcClient(cluster);
  });
  // A failed test shows what the services logged (the cluster's directory goes with it).
  afterEach(async ({ task }) => {
    if (task.result?.state === "fail" && cluster) console.log(`${task.name} failed; the services logged:\n${await cluster.logTails()}`);
  });
  afterAll(async () => {
    await cluster?.stop();
  });
  return {
    get cluster() {
      if (!cluster) throw new Error("the cluster is not started yet");
      return cluster;
    },
    get fc() {
      if (!fc) throw new Error("the cluster is not started yet");
      return fc;
    },
  };
}
