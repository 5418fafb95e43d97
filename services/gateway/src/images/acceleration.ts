import { createInbox, type NatsConnection, type Subscription } from "@nats-io/nats-core";
import {
  decodeImageMessage,
  encodeImageMessage,
  ImageListReply,
  ImagePulled,
  type AccelerationStatus,
  type Naming,
  type ResolvedImageRecord,
} from "@nimbus/protocol";
import type { Logger } from "@nimbus/telemetry";

export interface ImageAccelerationOptions {
  /** The most digests remembered as pulled; the least recently reported go first. */
  maxDigests: number;
  /** How long answers to one `images.list` request are taken. */
  listWindowMs: number;
  /** At most one `images.list` request per this long, however many lookups miss. */
  listIntervalMs: number;
}

const DEFAULTS: ImageAccelerationOptions = { maxDigests: 10_000, listWindowMs: 5_000, listIntervalMs: 10_000 };

/**
 * FC's image acceleration as Nimbus has it: after a create or update that resolved an image with
 * accelerationType Default, every invoker node is asked to pre-pull it (`images.prepull`); the image is
 * `Ready` once any invoker reports holding it (`images.pulled` events, and the answers to
 * `images.list`, asked at start and again — at most every `listIntervalMs` — when a lookup misses,
 * so a gateway started before the invokers, or one that missed an event, catches up). What it
 * remembers is a bounded set of digests; a digest once Ready stays Ready (an invoker evicting it
 * from its cache just pulls it again).
 */
export class ImageAcceleration {
  /** Digests some invoker has reported holding, least recently reported first. */
  private readonly pulled = new Map<string, true>();
  private readonly options: ImageAccelerationOptions;
  private events: Subscription | undefined;
  private replies: Subscription | undefined;
  private replyTimer: NodeJS.Timeout | undefined;
  private lastListAt = Number.NEGATIVE_INFINITY;
  private stopped = false;

  constructor(
    private readonly nc: NatsConnection,
    private readonly naming: Naming,
    private readonly logger: Logger,
    options: Partial<ImageAccelerationOptions> = {},
  ) {
    this.options = { ...DEFAULTS, ...options };
  }

  /** Listens for pulled images and asks the invokers what they hold. */
  start(): void {
    this.events = this.nc.subscribe(this.naming.subjects.imagesPulled, {
      callback: (err, msg) => {
        if (err) return;
        const event = decodeImageMessage(ImagePulled, msg.data);
        if (event) this.mark(event.digest);
      },
    });
    this.askInvokers();
  }

  /** FC's accelerationInfo.status of an image function pinned to `digest`. */
  status(digest: string): AccelerationStatus {
    if (this.pulled.has(digest)) return "Ready";
    this.askInvokers();
    return "Preparing";
  }

  /** Asks every invoker node to pull an image now (fire and forget: a node that misses it pulls at first use). */
  prepull(image: ResolvedImageRecord): void {
    try {
      this.nc.publish(this.naming.subjects.imagesPrepull, encodeImageMessage({ pinned: image.pinned, digest: image.digest }));
    } catch (err) {
      this.logger.warn({ err, image: image.pinned }, "could not ask the invokers to pre-pull an image; they pull it at first use");
    }
  }

  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.events?.unsubscribe();
    this.endListWindow();
  }

  private mark(digest: string): void {
    this.pulled.delete(digest);
    this.pulled.set(digest, true);
    if (this.pulled.size > this.options.maxDigests) {
      const oldest = this.pulled.keys().next();
      if (!oldest.done) this.pulled.delete(oldest.value);
    }
  }

  /** One `images.list` request; answers are taken for `listWindowMs`, whoever sends them. */
  private askInvokers(): void {
    const now = Date.now();
    if (this.stopped || this.nc.isClosed() || now - this.lastListAt < this.options.listIntervalMs) return;
    this.lastListAt = now;
    this.endListWindow();
    const inbox = createInbox();
    const replies = this.nc.subscribe(inbox, {
      callback: (err, msg) => {
        if (err) return;
        const reply = decodeImageMessage(ImageListReply, msg.data);
        if (!reply) return;
        for (const image of reply.images) this.mark(image.digest);
      },
    });
    this.replies = replies;
    this.replyTimer = setTimeout(() => this.endListWindow(), this.options.listWindowMs);
    this.replyTimer.unref();
    try {
      this.nc.publish(this.naming.subjects.imagesList, undefined, { reply: inbox });
    } catch (err) {
      this.logger.warn({ err }, "could not ask the invokers which images they hold; will ask again");
      this.endListWindow();
    }
  }

  private endListWindow(): void {
    clearTimeout(this.replyTimer);
    this.replies?.unsubscribe();
    this.replies = undefined;
  }
}
