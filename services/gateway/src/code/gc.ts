import { hasCodePackage } from "@nimbus/protocol";
import type { GatewayContext } from "../context.js";

export interface CodeCollectorOptions {
  intervalMs: number;
  /** A package unreferenced for less than this is kept (an upload racing with the sweep may be about to use it). */
  graceMs: number;
}

/**
 * Deletes code packages nothing references any more — no function, no version of a function, no
 * layer version — once they have been unused for the grace period; and drops deleted layer
 * versions that no function or version uses any more. Every gateway may run it: deletes are
 * idempotent and re-uploading a package marks it as used, so a sweep never removes code an upload
 * just reused.
 */
export class CodeCollector {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<unknown> | undefined;

  constructor(
    private readonly ctx: GatewayContext,
    private readonly options: CodeCollectorOptions,
  ) {}

  start(): void {
    this.timer = setInterval(() => void this.sweep(), this.options.intervalMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.running;
  }

  /** One pass; returns the packages it deleted. Skipped while metadata is still loading. */
  sweep(): Promise<string[]> {
    const pass = (async () => {
      const { mirrors, store } = this.ctx;
      if (!mirrors.ready()) return [];
      const referenced = new Set<string>();
      const layersInUse = new Set<string>();
      for (const fns of [mirrors.functions, mirrors.versionFunctions]) {
        for (const { value } of fns.values()) {
          if (hasCodePackage(value)) referenced.add(value.codeSha256);
          for (const arn of value.layers ?? []) layersInUse.add(arn.slice(arn.indexOf(":layers/") + 8));
        }
      }
      for (const [key, { value, revision }] of [...mirrors.layers.withPrefix("")]) {
        if (value.deleted && !layersInUse.has(`${value.layerName}/versions/${value.version}`)) {
          await store.layers.delete(key, revision);
          continue;
        }
        referenced.add(value.codeSha256);
      }
      const cutoff = Date.now() - this.options.graceMs;
      const deleted: string[] = [];
      for (const pkg of await this.ctx.store.code.list()) {
        if (referenced.has(pkg.sha256) || pkg.lastUsed.getTime() > cutoff) continue;
        await this.ctx.store.code.delete(pkg.sha256);
        deleted.push(pkg.sha256);
      }
      if (deleted.length) this.ctx.logger.info({ count: deleted.length }, "deleted unreferenced code packages");
      return deleted;
    })().catch((err: unknown) => {
      this.ctx.logger.warn({ err }, "code garbage collection failed; will retry");
      return [];
    });
    this.running = pass;
    return pass;
  }
}
