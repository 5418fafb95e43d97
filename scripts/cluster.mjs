// `npm run cluster`: a multi-node Nimbus on this machine's loopback, the way an operator rehearses a
// deployment — a 3-node NATS JetStream cluster, Redis with Sentinel (a primary, two replicas, three
// sentinels) or, with `-- --redis-cluster`, a Redis Cluster (three primaries with two replicas
// each), two gateways, two async-queues, two trigger-routers, three invoker nodes and a log
// collector, each its own process. Prints the endpoints; Ctrl-C stops everything (its data goes).
import { TestCluster } from "@nimbus/testkit";

const redisCluster = process.argv.includes("--redis-cluster");
const services = ["gateway", "gateway", "async-queue", "async-queue", "trigger-router", "trigger-router", "invoker", "invoker", "invoker", "log-collector"];
console.log(`starting a NATS cluster, ${redisCluster ? "a Redis Cluster" : "Redis with Sentinel"} and 10 Nimbus processes …`);
const cluster = await TestCluster.start({ nats: "cluster", redis: redisCluster ? "cluster" : "sentinel", services, env: { NIMBUS_LOG_LEVEL: process.env.NIMBUS_LOG_LEVEL ?? "warn" } });
const hide = (url) => url?.replace(/\/\/[^@]*@/, "//***@");
const redisLine = cluster.redisCluster
  ? `  redis (cluster)   ${hide(cluster.redisCluster.url)}   (3 primaries, 2 replicas each)`
  : `  redis (sentinel)  ${hide(cluster.sentinel?.url)}   (primary :${cluster.sentinel?.primary.port}, replicas ${cluster.sentinel?.replicas.map((r) => `:${r.port}`).join(" ")})`;
const { accessKeyId, accessKeySecret, accountId, region } = cluster.credentials;
const lines = [
  "",
  "Nimbus (multi-node) is up.",
  `  gateways          ${cluster.endpoint(0)}  ${cluster.endpoint(1)}   (console: ${cluster.endpoint(0)}/console/)`,
  `  access key id     ${accessKeyId}`,
  `  access key secret ${accessKeySecret}`,
  `  account / region  ${accountId} / ${region}`,
  `  nats (seeds)      ${hide(cluster.natsCluster?.url)}   (JetStream R3)`,
  redisLine,
  `  processes         ${[...cluster.services].map(([name, list]) => `${list.length} ${name}`).join(", ")}`,
  `  logs              ${cluster.dir}/logs`,
  "",
  "The CLI against it:",
  `  export NIMBUS_ENDPOINT=${cluster.endpoint(0)} NIMBUS_ACCESS_KEY_ID=${accessKeyId} NIMBUS_ACCESS_KEY_SECRET=${accessKeySecret} NIMBUS_ACCOUNT_ID=${accountId}`,
  "  npx nimbus deploy examples/hello --service demo --function hello && npx nimbus invoke demo/hello --event '{\"name\":\"cluster\"}'",
  "Kill any process (a NATS node, a Redis primary, a gateway, an invoker) and the rest carry on.",
  "Ctrl-C stops everything.",
];
console.log(lines.join("\n"));
let stopping = false;
for (const signal of ["SIGINT", "SIGTERM"]) {
  process.on(signal, async () => {
    if (stopping) return;
    stopping = true;
    console.log("\nstopping …");
    await cluster.stop();
    process.exit(0);
  });
}
setInterval(() => undefined, 1 << 30);
