import { Socket } from "node:net";
import { CONTROL_FD, FrameReader, FrameWriter, MAX_FRAME_BYTES, type FromInstance, type ToInstance } from "@nimbus/protocol/wire";

/** The framed control channel to the invoker, on fd 3. */
export class Channel {
  private readonly writer: FrameWriter;

  constructor(onMessage: (message: ToInstance) => void) {
    const socket = new Socket({ fd: CONTROL_FD, readable: true, writable: true });
    this.writer = new FrameWriter(socket);
    const reader = new FrameReader<ToInstance>(onMessage, MAX_FRAME_BYTES);
    socket.on("data", (chunk: Buffer) => reader.push(chunk));
    // The invoker is gone: nothing left to serve.
    socket.on("end", () => process.exit(0));
    socket.on("error", () => process.exit(0));
  }

  /** Frames sent during one event-loop turn leave in one write; `now` sends at once (output). */
  send(message: FromInstance, now = false): void {
    this.writer.send(message, now);
  }

  /** Bytes written that the invoker has not taken yet. */
  get pendingBytes(): number {
    return this.writer.pendingBytes;
  }

  /** Resolves once everything written so far has been handed to the OS. */
  flush(): Promise<void> {
    return this.writer.flush();
  }
}
