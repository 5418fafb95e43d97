import { parseArgs } from "node:util";
import type { StatefulAsyncInvocation } from "@nimbus/sdk";
import { clientFor, loadConfig } from "./config.js";
import { parseTarget } from "./target.js";

const USAGE = `usage: nimbus async <command> <service>[.<qualifier>]/<function> [...]

commands:
  get  <svc>/<fn> <id>    what happened to one asynchronous invocation (JSON)
  list <svc>/<fn>         its invocations, oldest first, a line each
         [--status <Enqueued|Running|Succeeded|Failed|Retrying|Stopping|Stopped|Expired|Invalid>]
         [--prefix <id prefix>] [--limit <n>] [--desc] [--since <ISO time or epoch ms>]
  stop <svc>/<fn> <id>    stop it: a queued one never runs, a running one has its instance killed
  config <svc>/<fn>       its async config (JSON); with options, sets it (what is not given keeps FC's default)
         [--stateful] [--retries <0-8>] [--max-age <seconds>] [--on-success <arn>] [--on-failure <arn>]
         [--max-concurrency <n>] [--max-chain-depth <n>] [--allow-loops]
  redrive <svc>/<fn>      run failed or expired invocations again, with their payload, under new ids
         [--status <Failed|Expired>] [--since <ISO time or epoch ms>] [--id <id>]... [--limit <n>]
         (each invocation is redriven once: repeating a redrive runs nothing twice)
`;

const LIST_OPTIONS = {
  status: { type: "string" },
  prefix: { type: "string" },
  limit: { type: "string" },
  desc: { type: "boolean" },
  since: { type: "string" },
  id: { type: "string", multiple: true },
  stateful: { type: "boolean" },
  retries: { type: "string" },
  "max-age": { type: "string" },
  "on-success": { type: "string" },
  "on-failure": { type: "string" },
  "max-concurrency": { type: "string" },
  "max-chain-depth": { type: "string" },
  "allow-loops": { type: "boolean" },
  help: { type: "boolean", short: "h" },
} as const;

function line(i: StatefulAsyncInvocation): string {
  const started = new Date(i.startedTime).toISOString();
  const took = i.endTime === undefined ? "" : ` ${i.endTime - i.startedTime}ms`;
  const retried = i.alreadyRetriedTimes ? ` retried ${i.alreadyRetriedTimes}` : "";
  const error = i.invocationErrorMessage ? `  ${i.invocationErrorMessage.split("\n")[0]}` : "";
  return `${i.invocationId}  ${i.status.padEnd(9)}  ${started}${took}${retried}${error}\n`;
}

function epochMs(value: string): number {
  const n = /^\d+$/.test(value) ? Number(value) : Date.parse(value);
  if (!Number.isFinite(n)) throw new Error(`--since takes an ISO time or epoch milliseconds, got '${value}'`);
  return n;
}

/** `nimbus async get|list|stop|config|redrive`: FC's stateful-async-invocation API (and Nimbus's redrive) from the command line. */
export async function asyncCommand(argv: string[]): Promise<void> {
  const [command, ...rest] = argv;
  if (command === undefined || command === "help" || command === "--help" || command === "-h") {
    process.stdout.write(USAGE);
    if (command === undefined) process.exitCode = 2;
    return;
  }
  const { values, positionals } = parseArgs({ args: rest, allowPositionals: true, options: LIST_OPTIONS });
  if (values.help) {
    process.stdout.write(USAGE);
    return;
  }
  const [target, id] = positionals;
  if (!target) throw new Error(`name the function: nimbus async ${command} <service>/<function>${["list", "redrive", "config"].includes(command) ? "" : " <id>"}`);
  const { service, qualifier, fn } = parseTarget(target);
  const client = clientFor(await loadConfig());
  switch (command) {
    case "get": {
      if (!id) throw new Error("name the invocation: nimbus async get <service>/<function> <id>");
      const res = await client.getStatefulAsyncInvocation(service, fn, id, qualifier);
      process.stdout.write(`${JSON.stringify(res.data, null, 2)}\n`);
      return;
    }
    case "list": {
      const limit = values.limit === undefined ? 100 : Number.parseInt(values.limit, 10);
      if (!Number.isInteger(limit) || limit < 1) throw new Error(`--limit takes a positive number, got '${values.limit}'`);
      let left = limit;
      let nextToken: string | undefined;
      do {
        const res = await client.listStatefulAsyncInvocations(
          service,
          fn,
          {
            limit: Math.min(100, left),
            ...(values.status ? { status: values.status } : {}),
            ...(values.prefix ? { invocationIdPrefix: values.prefix } : {}),
            ...(values.desc ? { sortOrderByTime: "desc" } : {}),
            ...(values.since ? { startedTimeBegin: epochMs(values.since) } : {}),
            ...(nextToken ? { nextToken } : {}),
          },
          qualifier,
        );
        for (const invocation of res.data.invocations) process.stdout.write(line(invocation));
        left -= res.data.invocations.length;
        nextToken = res.data.nextToken;
      } while (nextToken && left > 0);
      return;
    }
    case "stop": {
      if (!id) throw new Error("name the invocation: nimbus async stop <service>/<function> <id>");
      await client.stopStatefulAsyncInvocation(service, fn, id, qualifier);
      const after = await client.getStatefulAsyncInvocation(service, fn, id, qualifier);
      process.stdout.write(`${id} ${after.data.status}\n`);
      return;
    }
    case "config": {
      const number = (name: string, value: string | undefined) => {
        if (value === undefined) return undefined;
        const n = Number(value);
        if (!Number.isInteger(n) || n < 0) throw new Error(`--${name} takes a whole number, got '${value}'`);
        return n;
      };
      const config = {
        ...(values.stateful ? { statefulInvocation: true } : {}),
        ...(values.retries !== undefined ? { maxAsyncRetryAttempts: number("retries", values.retries) } : {}),
        ...(values["max-age"] !== undefined ? { maxAsyncEventAgeInSeconds: number("max-age", values["max-age"]) } : {}),
        ...(values["max-concurrency"] !== undefined ? { maxAsyncConcurrency: number("max-concurrency", values["max-concurrency"]) } : {}),
        ...(values["max-chain-depth"] !== undefined ? { maxChainDepth: number("max-chain-depth", values["max-chain-depth"]) } : {}),
        ...(values["allow-loops"] ? { recursiveLoop: "Allow" } : {}),
        ...(values["on-success"] || values["on-failure"]
          ? {
              destinationConfig: {
                ...(values["on-success"] ? { onSuccess: { destination: values["on-success"] } } : {}),
                ...(values["on-failure"] ? { onFailure: { destination: values["on-failure"] } } : {}),
              },
            }
          : {}),
      };
      const res = Object.keys(config).length
        ? await client.putFunctionAsyncConfig(service, fn, qualifier, config)
        : await client.getFunctionAsyncConfig(service, fn, qualifier);
      process.stdout.write(`${JSON.stringify(res.data, null, 2)}\n`);
      return;
    }
    case "redrive": {
      if (values.status !== undefined && values.status !== "Failed" && values.status !== "Expired") throw new Error(`--status takes Failed or Expired, got '${values.status}'`);
      const limit = values.limit === undefined ? undefined : Number.parseInt(values.limit, 10);
      if (limit !== undefined && (!Number.isInteger(limit) || limit < 1)) throw new Error(`--limit takes a positive number, got '${values.limit}'`);
      const res = await client.redriveStatefulAsyncInvocations(service, fn, {
        ...(values.status ? { status: values.status } : {}),
        ...(values.since ? { since: epochMs(values.since) } : {}),
        ...(values.id ? { invocationIds: values.id } : {}),
        ...(limit ? { limit } : {}),
      });
      for (const r of res.data.redriven) process.stdout.write(`${r.invocationId} -> ${r.newInvocationId}\n`);
      for (const r of res.data.skipped) process.stdout.write(`${r.invocationId} skipped: ${r.reason}\n`);
      process.stdout.write(`${res.data.redriven.length} redriven, ${res.data.skipped.length} skipped\n`);
      return;
    }
    default:
      throw new Error(`unknown async command '${command}' (get, list, stop, config, redrive)`);
  }
}
