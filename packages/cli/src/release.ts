import { resolve } from "node:path";
import { parseArgs } from "node:util";
import { clientFor, loadConfig } from "./config.js";
import { zipDirectory } from "./zip-dir.js";

const VERSION_USAGE = `usage: nimbus version publish <service> [--description <text>]
       nimbus version list <service>
       nimbus version delete <service> <versionId>

publish snapshots the service and every function in it (code and configuration) as the next
version and prints its id.
`;

const ALIAS_USAGE = `usage: nimbus alias set <service> <alias> <versionId> [--weight <versionId>=<0..1>] [--description <text>]
       nimbus alias list <service>
       nimbus alias delete <service> <alias>

set creates the alias or points it at another version; --weight sends that share of the calls to
one more version (canary), e.g. --weight 3=0.1.
`;

const LAYER_USAGE = `usage: nimbus layer publish <dir> --name <layer> [--runtime <runtime>]... [--description <text>]
       nimbus layer list <layer>

publish zips the directory as the next version of the layer and prints its ARN; functions name it
in 'layers' and find it under /opt (Node.js modules in <dir>/nodejs/node_modules). --runtime
defaults to nodejs20 and may be given several times.
`;

function usage(text: string, command: string | undefined): void {
  process.stdout.write(text);
  if (command === undefined) process.exitCode = 2;
}

/** `nimbus version publish|list|delete`. */
export async function versionCommand(argv: string[]): Promise<void> {
  const [command, ...rest] = argv;
  const { values, positionals } = parseArgs({ args: rest, allowPositionals: true, options: { description: { type: "string" }, help: { type: "boolean", short: "h" } } });
  const [service, versionId] = positionals;
  if (values.help || !command || ["help", "--help", "-h"].includes(command)) return usage(VERSION_USAGE, command);
  if (!service) throw new Error(`name the service: nimbus version ${command} <service>`);
  const client = clientFor(await loadConfig());
  switch (command) {
    case "publish": {
      const res = await client.publishVersion(service, values.description);
      process.stdout.write(`${res.data.versionId}\n`);
      return;
    }
    case "list": {
      for (const v of (await client.listVersions(service, { limit: 100 })).data.versions) {
        process.stdout.write(`${v.versionId}\t${v.createdTime}\t${v.description}\n`);
      }
      return;
    }
    case "delete": {
      if (!versionId) throw new Error("name the version: nimbus version delete <service> <versionId>");
      await client.deleteVersion(service, versionId);
      process.stderr.write(`deleted version ${versionId} of ${service}\n`);
      return;
    }
    default:
      throw new Error(`unknown version command '${command}' (publish, list, delete)`);
  }
}

/** `nimbus alias set|list|delete`. */
export async function aliasCommand(argv: string[]): Promise<void> {
  const [command, ...rest] = argv;
  const { values, positionals } = parseArgs({
    args: rest,
    allowPositionals: true,
    options: { weight: { type: "string", multiple: true }, description: { type: "string" }, help: { type: "boolean", short: "h" } },
  });
  if (values.help || !command || ["help", "--help", "-h"].includes(command)) return usage(ALIAS_USAGE, command);
  const [service, alias, versionId] = positionals;
  if (!service) throw new Error(`name the service: nimbus alias ${command} <service>`);
  const client = clientFor(await loadConfig());
  switch (command) {
    case "set": {
      if (!alias || !versionId) throw new Error("usage: nimbus alias set <service> <alias> <versionId> [--weight <versionId>=<weight>]");
      const additionalVersionWeight: Record<string, number> = {};
      for (const w of values.weight ?? []) {
        const m = /^([1-9][0-9]*)=(0(?:\.[0-9]+)?|1(?:\.0+)?)$/.exec(w);
        if (!m) throw new Error(`--weight takes <versionId>=<weight between 0 and 1>, got '${w}'`);
        additionalVersionWeight[m[1] as string] = Number(m[2]);
      }
      const spec = { versionId, additionalVersionWeight, ...(values.description === undefined ? {} : { description: values.description }) };
      const exists = await client.getAlias(service, alias).then(
        () => true,
        (err: { code?: string }) => {
          if (err.code === "AliasNotFound") return false;
          throw err;
        },
      );
      const res = exists ? await client.updateAlias(service, alias, spec) : await client.createAlias(service, { aliasName: alias, ...spec });
      const weights = Object.entries(res.data.additionalVersionWeight).map(([v, w]) => ` (+ ${w * 100}% to version ${v})`).join("");
      process.stderr.write(`${exists ? "updated" : "created"} alias ${alias} of ${service} → version ${res.data.versionId}${weights}\n`);
      return;
    }
    case "list": {
      for (const a of (await client.listAliases(service, { limit: 100 })).data.aliases) {
        const weights = Object.entries(a.additionalVersionWeight).map(([v, w]) => `${v}=${w}`).join(",");
        process.stdout.write(`${a.aliasName}\t${a.versionId}${weights ? `\t${weights}` : ""}\n`);
      }
      return;
    }
    case "delete": {
      if (!alias) throw new Error("name the alias: nimbus alias delete <service> <alias>");
      await client.deleteAlias(service, alias);
      process.stderr.write(`deleted alias ${alias} of ${service}\n`);
      return;
    }
    default:
      throw new Error(`unknown alias command '${command}' (set, list, delete)`);
  }
}

/** `nimbus layer publish|list`. */
export async function layerCommand(argv: string[]): Promise<void> {
  const [command, ...rest] = argv;
  const { values, positionals } = parseArgs({
    args: rest,
    allowPositionals: true,
    options: { name: { type: "string" }, runtime: { type: "string", multiple: true }, description: { type: "string" }, help: { type: "boolean", short: "h" } },
  });
  if (values.help || !command || ["help", "--help", "-h"].includes(command)) return usage(LAYER_USAGE, command);
  const client = clientFor(await loadConfig());
  switch (command) {
    case "publish": {
      const dir = positionals[0];
      if (!dir || !values.name) throw new Error("usage: nimbus layer publish <dir> --name <layer> [--runtime <runtime>]");
      const zip = await zipDirectory(resolve(dir));
      const res = await client.publishLayerVersion(values.name, {
        code: { zipFile: zip.toString("base64") },
        compatibleRuntime: values.runtime?.length ? values.runtime : ["nodejs20"],
        ...(values.description === undefined ? {} : { description: values.description }),
      });
      process.stderr.write(`published version ${res.data.version} of layer ${values.name} (${res.data.codeSize} bytes)\n`);
      process.stdout.write(`${res.data.layerVersionArn}\n`);
      return;
    }
    case "list": {
      const layer = positionals[0];
      if (!layer) throw new Error("name the layer: nimbus layer list <layer>");
      for (const l of (await client.listLayerVersions(layer, { limit: 100 })).data.layers) {
        process.stdout.write(`${l.version}\t${l.layerVersionArn}\t${l.compatibleRuntime.join(",")}\t${l.description}\n`);
      }
      return;
    }
    default:
      throw new Error(`unknown layer command '${command}' (publish, list)`);
  }
}
