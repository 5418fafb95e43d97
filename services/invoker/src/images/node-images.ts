import type { NatsConnection, Subscription } from "@nats-io/transport-node";
import { ImageCache, type ImageCacheOptions, type UnpackedImage } from "@nimbus/images";
import { decodeImageMessage, encodeImageMessage, ImagePrepull, type Naming } from "@nimbus/protocol";
import type { Logger } from "@nimbus/telemetry";

/**
 * This node's container images: the cache instances run from, and its side of the images subjects —
 * it pre-pulls what gateways ask for (FC's accelerationType Default), announces every image it now
 * holds (gateways report the function's acceleration as Ready), and answers `nimbus images`.
 */
export class NodeImages {
  readonly cache: ImageCache;
  private readonly subs: Subscription[] = [];

  constructor(
    private readonly nc: NatsConnection,
    private readonly naming: Naming,
    private readonly node: string,
    options: Omit<ImageCacheOptions, "onPulled">,
    private readonly logger: Logger,
  ) {
    this.cache = new ImageCache({
      ...options,
      onPulled: (image) => {
        if (!this.nc.isClosed()) this.nc.publish(this.naming.subjects.imagesPulled, encodeImageMessage({ digest: image.digest, node: this.node }));
      },
    });
  }

  /** Cleans up what an interrupted pull left, indexes what is cached, and starts answering on the images subjects. */
  async start(): Promise<void> {
    await this.cache.init();
    this.subs.push(
      this.nc.subscribe(this.naming.subjects.imagesPrepull, {
        callback: (err, msg) => {
          if (err) return;
          const request = decodeImageMessage(ImagePrepull, msg.data);
          if (!request) {
            this.logger.warn({ subject: msg.subject }, "ignoring an unreadable image pre-pull request");
            return;
          }
          void this.cache.prepull(request.pinned);
        },
      }),
      this.nc.subscribe(this.naming.subjects.imagesList, {
        callback: (err, msg) => {
          if (err || !msg.reply) return;
          msg.respond(encodeImageMessage({ node: this.node, images: this.cache.list() }));
        },
      }),
    );
  }

  /** The image, unpacked and counted in use until release(). */
  acquire(pinned: string): Promise<UnpackedImage> {
    return this.cache.acquire(pinned);
  }

  release(digest: string): void {
    this.cache.release(digest);
  }

  stop(): void {
    for (const sub of this.subs.splice(0)) sub.unsubscribe();
  }
}
