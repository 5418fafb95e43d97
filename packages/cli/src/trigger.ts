import { parseArgs } from "node:util";
import { clientFor, loadConfig } from "./config.js";
import { parseTarget } from "./target.js";

const USAGE = `usage: nimbus trigger create <service>[.<qualifier>]/<function> <name> --type <type> [options]
       nimbus trigger list <service>/<function>
       nimbus trigger delete <service>/<function> <name>

types and their options:
  timer   --cron <'0 0/5 * * * *' | '@every 5m'> [--payload <text>] [--disabled]
  nats    --subject <orders.*.created> [--durable] [--sync] [--queue <group>] [--raw]
          (--raw: the function gets the message bytes instead of a CloudEvent)
  oss     --bucket <name> --events <oss:ObjectCreated:*>[,…] [--prefix <img/>] [--suffix <.png>]
  http    [--auth anonymous|function] [--methods GET,POST]
`;

/** `nimbus trigger create|list|delete`: FC's trigger API from the command line. */
export async function triggerCommand(argv: string[]): Promise<void> {
  const [command, ...rest] = argv;
  const { values, positionals } = parseArgs({
    args: rest,
    allowPositionals: true,
    options: {
      type: { type: "string" },
      cron: { type: "string" },
      payload: { type: "string" },
      disabled: { type: "boolean" },
      subject: { type: "string" },
      durable: { type: "boolean" },
      sync: { type: "boolean" },
      queue: { type: "string" },
      raw: { type: "boolean" },
      bucket: { type: "string" },
      events: { type: "string" },
      prefix: { type: "string" },
      suffix: { type: "string" },
      auth: { type: "string" },
      methods: { type: "string" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help || !command || ["help", "--help", "-h"].includes(command)) {
    process.stdout.write(USAGE);
    if (!command) process.exitCode = 2;
    return;
  }
  const [target, name] = positionals;
  if (!target) throw new Error(`name the function: nimbus trigger ${command} <service>/<function>`);
  const { service, qualifier, fn } = parseTarget(target);
  const client = clientFor(await loadConfig());
  switch (command) {
    case "create": {
      if (!name) throw new Error("name the trigger: nimbus trigger create <service>/<function> <name> --type <type>");
      const spec = triggerSpec(values);
      const res = await client.createTrigger(service, fn, { triggerName: name, ...spec, ...(qualifier ? { qualifier } : {}) });
      process.stderr.write(`created ${spec.triggerType} trigger ${name} on ${service}/${fn}${qualifier ? ` (${qualifier})` : ""}\n`);
      process.stdout.write(`${JSON.stringify(res.data, null, 2)}\n`);
      return;
    }
    case "list": {
      for (const t of (await client.listTriggers(service, fn, { limit: 100 })).data.triggers) {
        process.stdout.write(`${String(t["triggerName"])}\t${String(t["triggerType"])}\t${String(t["qualifier"])}\t${JSON.stringify(t["triggerConfig"])}\n`);
      }
      return;
    }
    case "delete": {
      if (!name) throw new Error("name the trigger: nimbus trigger delete <service>/<function> <name>");
      await client.deleteTrigger(service, fn, name);
      process.stderr.write(`deleted trigger ${name} of ${service}/${fn}\n`);
      return;
    }
    default:
      throw new Error(`unknown trigger command '${command}' (create, list, delete)`);
  }
}

type Flags = Record<string, string | boolean | undefined>;

function triggerSpec(v: Flags): { triggerType: string; triggerConfig: Record<string, unknown>; sourceArn?: string } {
  const need = (flag: string): string => {
    const value = v[flag];
    if (typeof value !== "string" || value === "") throw new Error(`--type ${String(v["type"])} needs --${flag}`);
    return value;
  };
  switch (v["type"]) {
    case "timer":
      return { triggerType: "timer", triggerConfig: { cronExpression: need("cron"), payload: (v["payload"] as string | undefined) ?? "", enable: !v["disabled"] } };
    case "nats":
      return {
        triggerType: "nats",
        triggerConfig: {
          subject: need("subject"),
          durable: Boolean(v["durable"]),
          invocationType: v["sync"] ? "Sync" : "Async",
          cloudEvents: !v["raw"],
          ...(v["queue"] ? { queue: v["queue"] } : {}),
        },
      };
    case "oss":
      return {
        triggerType: "oss",
        sourceArn: `acs:oss:::${need("bucket")}`,
        triggerConfig: {
          events: need("events").split(",").map((e) => e.trim()),
          filter: { key: { prefix: (v["prefix"] as string | undefined) ?? "", suffix: (v["suffix"] as string | undefined) ?? "" } },
        },
      };
    case "http":
      return {
        triggerType: "http",
        triggerConfig: {
          authType: (v["auth"] as string | undefined) ?? "function",
          methods: ((v["methods"] as string | undefined) ?? "GET,POST,PUT,DELETE,HEAD,PATCH").split(",").map((m) => m.trim().toUpperCase()),
        },
      };
    case undefined:
      throw new Error("say which trigger: --type timer|nats|oss|http");
    default:
      throw new Error(`unknown trigger type '${String(v["type"])}' (timer, nats, oss, http)`);
  }
}
