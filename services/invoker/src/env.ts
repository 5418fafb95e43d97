import { totalmem, tmpdir } from "node:os";
import { join } from "node:path";
import { z } from "zod";
import { CommonEnv, envBool, envInt, loadEnv, LogStreamEnv, RegistryEnv } from "@nimbus/service-kit";

const Schema = CommonEnv.extend({
  ...LogStreamEnv,
  ...RegistryEnv,
  /** What this node's unpacked container images may take on disk; least recently used ones no instance runs go first. */
  NIMBUS_IMAGE_CACHE_BYTES: envInt(20 * 1024 ** 3, 1024 * 1024, 2 ** 50),
  /** An image whose layers add up to more is refused before it is downloaded. */
  NIMBUS_MAX_IMAGE_BYTES: envInt(10 * 1024 ** 3, 1024, 2 ** 50),
  /** Function output lines longer than this are split into marked parts. */
  NIMBUS_LOG_MAX_LINE_BYTES: envInt(32 * 1024, 256, 1024 * 1024),
  /** What one invocation may print; beyond it the output is dropped after a marker line. */
  NIMBUS_LOG_MAX_BYTES_PER_INVOCATION: envInt(10 * 1024 * 1024, 1024, 1024 * 1024 * 1024),
  /** What all instances of one function on this node may print per second, on average. */
  NIMBUS_LOG_FUNCTION_BYTES_PER_SECOND: envInt(4 * 1024 * 1024, 1024, 1024 * 1024 * 1024),
  /** ... and at once (the bucket's size): at least one invocation's worth. */
  NIMBUS_LOG_FUNCTION_BURST_BYTES: envInt(32 * 1024 * 1024, 1024, 16 * 1024 * 1024 * 1024),
  /** What one instance may print per second outside any invocation (module scope, timers, child processes). */
  NIMBUS_LOG_IDLE_BYTES_PER_SECOND: envInt(256 * 1024, 1024, 1024 * 1024 * 1024),
  NIMBUS_LOG_IDLE_BURST_BYTES: envInt(2 * 1024 * 1024, 1024, 16 * 1024 * 1024 * 1024),
  NIMBUS_REDIS_URL: z.string().min(1).default("redis://127.0.0.1:6379"),
  /** Code cache and sandbox files; `npm start` puts it under .nimbus/. */
  NIMBUS_INVOKER_DIR: z.string().optional(),
  /** Idle instances are stopped after this long. */
  NIMBUS_INSTANCE_IDLE_MS: envInt(5 * 60_000, 100, 24 * 3600_000),
  /** How often each node checks provision configs against the instances provisioned cluster-wide. */
  NIMBUS_PROVISION_INTERVAL_MS: envInt(1_000, 50, 600_000),
  /** How often a provision config's target tracking policy decides its target anew (FC: about a minute). */
  NIMBUS_PROVISION_TRACKING_PERIOD_MS: envInt(30_000, 100, 3_600_000),
  /** Sum of the memorySize of the instances this node runs at once (default: 80% of RAM). */
  NIMBUS_INVOKER_MEMORY_MB: envInt(Math.floor((totalmem() / 1024 / 1024) * 0.8), 128, 16 * 1024 * 1024),
  NIMBUS_INVOKER_MAX_INSTANCES: envInt(500, 1, 100_000),
  /**
   * Sandboxes kept started (runtime booted, no function yet) for each kind in demand — with the
   * network and without — so a function's first call skips the sandbox's and Node's start. Each
   * holds 128 MB of NIMBUS_INVOKER_MEMORY_MB while it waits and gives it up first when a function
   * needs room. Needs bubblewrap and cgroups; 0 turns it off.
   */
  NIMBUS_PREWARM: envInt(2, 0, 64),
  /**
   * Interpreters the operator installed for FC's Python runtime names, as
   * `python3.9=/opt/python3.9/bin/python3.9,python3.12=/usr/local/bin/python3.12` (a venv's
   * `bin/python3` works too). Each is mounted read-only, with its installation, into the sandboxes
   * that run it. Names not listed run on Debian's `/usr/bin/python3.N`, or the closest one installed.
   */
  NIMBUS_PYTHON_INTERPRETERS: z
    .string()
    .regex(/^\s*$|^python3(\.\d+)?=\/[^,=]+(,python3(\.\d+)?=\/[^,=]+)*$/, { error: "must be runtime=/absolute/path pairs separated by commas, e.g. python3.12=/usr/local/bin/python3.12" })
    .default("")
    .transform((value) => Object.fromEntries(value.split(",").filter((pair) => pair.trim()).map((pair) => pair.split("=").map((part) => part.trim()) as [string, string]))),
  /** How long an instance may take to start (sandbox + runtime + handler module, or bootstrap listening). */
  NIMBUS_INSTANCE_START_TIMEOUT_MS: envInt(30_000, 1_000, 600_000),
  /** How long a request waits for a slot once its function is at its instance limit, before 429. */
  NIMBUS_QUEUE_WAIT_MS: envInt(1_000, 0, 600_000),
  NIMBUS_INSTANCE_PIDS_MAX: envInt(512, 16, 65_536),
  NIMBUS_SANDBOX_UID: envInt(65534, 1, 2 ** 31),
  NIMBUS_SANDBOX_GID: envInt(65534, 1, 2 ** 31),
  NIMBUS_SANDBOX_TMP_BYTES: envInt(512 * 1024 * 1024, 1024 * 1024, 64 * 1024 * 1024 * 1024),
  /** Refuse to run functions without bubblewrap instead of falling back to plain processes. */
  NIMBUS_REQUIRE_SANDBOX: envBool(false),
  NIMBUS_DISABLE_CGROUPS: envBool(false),
  NIMBUS_CODE_CACHE_BYTES: envInt(10 * 1024 * 1024 * 1024, 1024 * 1024, 2 ** 50),
  NIMBUS_MAX_CODE_UNZIPPED_BYTES: envInt(500 * 1024 * 1024, 1024, 16 * 1024 * 1024 * 1024),
  /**
   * Where callers send warm calls straight to this node (host:port; port 0 picks a free one), or
   * `off` to take every call through NATS. Callers find it, and the token it asks for, in the
   * node's heartbeat. The link is plain TCP: bind it to loopback or a private network.
   */
  NIMBUS_INVOKER_DIRECT_LISTEN: z
    .string()
    .regex(/^(off|(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):\d{1,5})$/, { error: "must be host:port or off" })
    .default("127.0.0.1:0"),
  /** The host callers reach the direct port at, when not the one it listens on (a wildcard listens on all). */
  NIMBUS_INVOKER_DIRECT_ADVERTISE_HOST: z.string().regex(/^[A-Za-z0-9.:-]{1,253}$/).optional(),
  /** A node whose heartbeat is older than this is dead: its instances stop counting. */
  NIMBUS_NODE_TTL_MS: envInt(10_000, 1_000, 600_000),
});

export type InvokerEnv = z.output<typeof Schema> & { invokerDir: string };

/** The invoker's configuration, read once from the environment. */
export function readEnv(source: NodeJS.ProcessEnv = process.env): InvokerEnv {
  const env = loadEnv(Schema, source);
  return { ...env, invokerDir: env.NIMBUS_INVOKER_DIR ?? join(tmpdir(), `nimbus-invoker-${env.NIMBUS_NODE_ID}`) };
}
