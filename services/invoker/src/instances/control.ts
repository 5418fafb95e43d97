import type { Socket } from "node:net";
import { parseFromInstance } from "@nimbus/protocol";
import { FrameReader, FrameWriter, MAX_FRAME_BYTES, type FromInstance, type ToInstance } from "@nimbus/protocol/wire";

/** An awaited message did not come in time (the instance is alive but silent). */
export class TimeoutError extends Error {
  override readonly name = "TimeoutError";
}

/** What every waiter hears when the instance is gone. */
const GONE: FromInstance = { t: "hello", pid: -1 };

/**
 * The framed control channel to one instance (fd 3 inside): messages out, corked per event-loop
 * turn; messages in, handed to `onMessage` or to whoever waits for them by key.
 */
export class ControlChannel {
  private readonly waiters = new Map<string, (message: FromInstance) => void>();
  private readonly writer: FrameWriter;

  constructor(
    private readonly socket: Socket,
    onMessage: (message: FromInstance) => void,
    onInvalid: (err: unknown) => void,
    /** Why the instance is gone, for a waiter that learns it is. */
    private readonly whyGone: () => string,
  ) {
    this.writer = new FrameWriter(socket);
    // The function's code can write to this channel: every frame is checked before it is believed.
    const reader = new FrameReader<unknown>((frame) => onMessage(parseFromInstance(frame)), MAX_FRAME_BYTES);
    let broken = false;
    socket.on("data", (chunk: Buffer) => {
      if (broken) return; // nothing after a bad frame is believed either
      try {
        reader.push(chunk);
      } catch (err) {
        broken = true;
        onInvalid(err);
      }
    });
    socket.on("error", () => undefined);
  }

  /**
   * Stops reading from the instance for a while (it prints faster than its output rate): its
   * runtime then drops output itself instead of this process decoding it. Results wait too, at
   * most that long.
   */
  pauseFor(ms: number): void {
    pauseFor(this.socket, ms);
  }

  /** Frames written during one event-loop turn leave in one write. */
  send(message: ToInstance): void {
    this.writer.send(message);
  }

  /**
   * Waits for the message `key`; `after` runs once the message `first` (if any) arrived. Rejects on
   * timeout, or when the instance is gone.
   */
  expect(key: string, timeoutMs: number, after: () => void, first?: string): Promise<FromInstance> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.delete(key);
        if (first) this.waiters.delete(first);
        reject(new TimeoutError(`no '${key}' from the instance within ${timeoutMs} ms`));
      }, timeoutMs);
      const done = (message: FromInstance) => {
        clearTimeout(timer);
        if (message === GONE) reject(new Error(this.whyGone()));
        else resolve(message);
      };
      if (first) {
        this.waiters.set(first, (m) => {
          if (m === GONE) return done(m);
          this.waiters.set(key, done);
          after();
        });
      } else {
        this.waiters.set(key, done);
        after();
      }
    });
  }

  /** Hands a message to whoever waits for `key` (dropped when nobody does). */
  deliver(key: string, message: FromInstance): void {
    const waiter = this.waiters.get(key);
    if (waiter) {
      this.waiters.delete(key);
      waiter(message);
    }
  }

  /** The instance is gone: every waiter learns it. */
  gone(): void {
    for (const waiter of this.waiters.values()) waiter(GONE);
    this.waiters.clear();
  }
}

/** Pauses a readable stream for `ms` (once: a stream already paused this way stays paused until then). */
export function pauseFor(stream: NodeJS.ReadableStream, ms: number): void {
  if (stream.isPaused()) return;
  stream.pause();
  setTimeout(() => stream.resume(), ms).unref();
}
