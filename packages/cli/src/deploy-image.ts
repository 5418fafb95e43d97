import { ACCELERATION_TYPES, CUSTOM_CONTAINER_RUNTIME, Defaults, Limits, readJsonStringArray, type AccelerationType } from "@nimbus/protocol";

/** The flags `nimbus deploy` takes for an image function. */
export interface ImageFlags {
  image?: string | undefined;
  port?: string | undefined;
  command?: string | undefined;
  args?: string | undefined;
  acceleration?: string | undefined;
  "web-server-mode"?: string | undefined;
}

/** FC's fields for a custom-container function, as deploy sends them on create and on update. */
export interface ImageSpec {
  runtime: typeof CUSTOM_CONTAINER_RUNTIME;
  caPort: number;
  customContainerConfig: {
    image: string;
    /** FC's strings holding JSON arrays; "" runs the image's own Entrypoint/Cmd. */
    command: string;
    args: string;
    accelerationType: AccelerationType;
    webServerMode: boolean;
  };
}

/** The nimbus.yaml keys that describe an image function (beside FC's function fields). */
export const IMAGE_KEYS = ["image", "port", "command", "args", "acceleration", "webServerMode"] as const;

/**
 * The image function that flags and nimbus.yaml describe (flags win), or undefined when neither
 * names an image. Everything is sent on every deploy — an option left out goes back to FC's default
 * (caPort 9000, the image's own command, acceleration Default, web server mode) — so what a deploy says is what
 * runs; the image itself is resolved again by the gateway, which is how LATEST follows a moved tag.
 */
export function imageSpec(flags: ImageFlags, manifest: Record<string, unknown>): ImageSpec | undefined {
  const image = flags.image ?? manifestString(manifest, "image");
  if (image === undefined) {
    const stray = IMAGE_KEYS.filter((k) => k !== "image" && manifest[k] !== undefined);
    const strayFlags = (["port", "command", "args", "acceleration", "web-server-mode"] as const).filter((f) => flags[f] !== undefined).map((f) => `--${f}`);
    const given = [...strayFlags, ...stray.map((k) => `'${k}:'`)];
    if (given.length) throw new Error(`${given.join(", ")} ${given.length === 1 ? "is" : "are"} for a container image, but no --image or 'image:' names one`);
    return undefined;
  }
  if (image.trim() === "") throw new Error("--image is empty: give an image reference such as 127.0.0.1:5000/team/app:v1");
  const port = flags.port ?? manifest["port"] ?? manifest["caPort"];
  return {
    runtime: CUSTOM_CONTAINER_RUNTIME,
    caPort: port === undefined ? Defaults.caPort : portNumber(port),
    customContainerConfig: {
      image,
      command: argvText(flags.command ?? manifest["command"], flags.command === undefined ? "command:" : "--command"),
      args: argvText(flags.args ?? manifest["args"], flags.args === undefined ? "args:" : "--args"),
      accelerationType: acceleration(flags.acceleration ?? manifest["acceleration"]),
      webServerMode: webServerMode(flags["web-server-mode"] ?? manifest["webServerMode"]),
    },
  };
}

function manifestString(manifest: Record<string, unknown>, key: string): string | undefined {
  const value = manifest[key];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== "string") throw new Error(`'${key}:' in nimbus.yaml must be a string, got ${JSON.stringify(value)}`);
  return value;
}

function portNumber(value: unknown): number {
  const port = typeof value === "number" ? value : typeof value === "string" && /^\d+$/.test(value) ? Number(value) : NaN;
  if (!Number.isInteger(port) || port < Limits.caPort.min || port > Limits.caPort.max) {
    throw new Error(`--port (or 'port:') is the port the image's server listens on, ${Limits.caPort.min}–${Limits.caPort.max}; got ${JSON.stringify(value)}`);
  }
  return port;
}

const ARGV_FORMS = `give a JSON array of strings such as '["/app/server", "--verbose"]', or plain words: /app/server --verbose`;

/**
 * A command or its arguments as FC's JSON-array text: a JSON array of strings (`'["/app/server", "-v"]'`),
 * a YAML list, or plain words split at spaces (`/app/server -v`). Unset is "" (the image's own).
 */
export function argvText(value: unknown, name: string): string {
  if (value === undefined || value === null) return "";
  if (Array.isArray(value)) {
    const words = value.map((v, i) => {
      if (typeof v === "string") return v;
      if (typeof v === "number" || typeof v === "boolean") return String(v);
      throw new Error(`${name} entry ${i} must be a string, got ${JSON.stringify(v)}`);
    });
    return words.length ? JSON.stringify(words) : "";
  }
  if (typeof value !== "string") throw new Error(`${name} must be a list of strings, a JSON array or words, got ${JSON.stringify(value)}`);
  const text = value.trim();
  if (text === "") return "";
  // Text that opens like JSON is taken as JSON, so a typo is an error rather than odd words.
  if (text.startsWith("[") || text.startsWith("{") || text.startsWith('"')) {
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      throw new Error(`${name} is not JSON: '${text.slice(0, 64)}' (${ARGV_FORMS})`);
    }
    if (!Array.isArray(value) || !value.every((v) => typeof v === "string")) throw new Error(`${name} must be an array of strings, got ${text.slice(0, 64)} (${ARGV_FORMS})`);
    const read = readJsonStringArray(text); // FC's bounds, as the gateway checks them
    if (!Array.isArray(read)) throw new Error(`${name} ${read?.error ?? "is empty"}`);
    return JSON.stringify(read);
  }
  return JSON.stringify(text.split(/\s+/));
}

function acceleration(value: unknown): AccelerationType {
  if (value === undefined || value === null) return "Default";
  const match = ACCELERATION_TYPES.find((t) => t.toLowerCase() === String(value).toLowerCase());
  if (!match) throw new Error(`--acceleration (or 'acceleration:') is ${ACCELERATION_TYPES.join(" or ")}, got ${JSON.stringify(value)}`);
  return match;
}

function webServerMode(value: unknown): boolean {
  if (value === undefined || value === null) return true;
  if (value === true || value === "true") return true;
  if (value === false || value === "false") return false;
  throw new Error(`--web-server-mode (or 'webServerMode:') is true or false, got ${JSON.stringify(value)}`);
}
