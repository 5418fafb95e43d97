import { existsSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { isReadyMessage, SERVICE_NAMES, type ReadyMessage, type ServiceName } from "@nimbus/protocol";
import { ProcessHandle } from "./handle.js";
import { ManagedProcess } from "./process.js";

/** The repository root (this file is packages/embedded/dist/nimbus-service.js). */
export const REPO_ROOT = fileURLToPath(new URL("../../../", import.meta.url));

/** The compiled entry point of a service. */
export function serviceEntry(name: ServiceName): string {
  return join(REPO_ROOT, "services", name, "dist", "main.js");
}

/** The services that exist in this checkout (built), in start order. */
export function availableServices(): ServiceName[] {
  return SERVICE_NAMES.filter((name) => existsSync(serviceEntry(name)));
}

export interface NimbusServiceOptions {
  name: ServiceName;
  env: NodeJS.ProcessEnv;
  logFile?: string;
  onLine?: (line: string, stream: "stdout" | "stderr") => void;
  readyTimeoutMs?: number;
  /** Extra Node flags (e.g. --cpu-prof). */
  nodeArgs?: string[];
}

/**
 * A Nimbus service run as a Node child with an IPC channel: it reports readiness over IPC, and
 * exits by itself when the channel closes (its supervisor died).
 */
export class NimbusServiceProcess extends ProcessHandle {
  readonly process: ManagedProcess;
  private readyWaiters: ((message: ReadyMessage) => void)[] = [];
  private lastReady: ReadyMessage | undefined;

  constructor(readonly options: NimbusServiceOptions) {
    super();
    this.process = new ManagedProcess({
      name: options.name,
      command: process.execPath,
      args: [...(options.nodeArgs ?? []), serviceEntry(options.name)],
      env: options.env,
      ipc: true,
      ...(options.logFile ? { logFile: options.logFile } : {}),
      ...(options.onLine ? { onLine: options.onLine } : {}),
      onMessage: (message) => {
        if (!isReadyMessage(message)) return;
        this.lastReady = message;
        const waiters = this.readyWaiters;
        this.readyWaiters = [];
        for (const w of waiters) w(message);
      },
    });
  }

  get name(): ServiceName {
    return this.options.name;
  }

  /** What the service said when it became ready (its port, node id). */
  get ready(): ReadyMessage | undefined {
    return this.lastReady;
  }

  /** Starts the service and resolves with its ready message. */
  async start(): Promise<ReadyMessage> {
    this.lastReady = undefined;
    const ready = new Promise<ReadyMessage>((resolve) => this.readyWaiters.push(resolve));
    this.process.start();
    const timeoutMs = this.options.readyTimeoutMs ?? 30_000;
    let timer: NodeJS.Timeout | undefined;
    const failure = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${this.name} was not ready within ${timeoutMs} ms:\n${this.process.recentOutput()}`)), timeoutMs);
      void this.process.exited().then((s) =>
        reject(new Error(`${this.name} exited (${s.code ?? s.signal}) before it was ready:\n${this.process.recentOutput()}`)),
      );
    });
    try {
      return await Promise.race([ready, failure]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** SIGTERM (graceful drain), SIGKILL after the deadline. */
  async stop(deadlineMs = 15_000): Promise<void> {
    await this.process.stop(deadlineMs);
  }

  /** Stops (if running) and starts again with the same environment. */
  override async restart(): Promise<ReadyMessage> {
    if (this.process.running) await this.stop();
    return this.start();
  }

  async close(): Promise<void> {
    await this.process.close();
  }
}
