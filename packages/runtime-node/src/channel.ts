import { Socket } from "node:net";
import { CONTROL_FD, frame, FrameReader, type FromInstance, type ToInstance } from "@nimbus/protocol/wire";

/** The largest frame the invoker may send us (a 32 MB payload plus headroom). */
const MAX_FRAME_BYTES = 40 * 1024 * 1024;

/** The framed control channel to the invoker, on fd 3. */
export class Channel {
  private readonly socket: Socket;

  constructor(onMessage: (message: ToInstance) => void) {
    this.socket = new Socket({ fd: CONTROL_FD, readable: true, writable: true });
    const reader = new FrameReader<ToInstance>(onMessage, MAX_FRAME_BYTES);
    this.socket.on("data", (chunk: Buffer) => reader.push(chunk));
    // The invoker is gone: nothing left to serve.
    this.socket.on("end", () => process.exit(0));
    this.socket.on("error", () => process.exit(0));
  }

  private corked = false;

  /** Frames sent during one event-loop turn leave in one write. */
  send(message: FromInstance): void {
    if (!this.corked) {
      this.corked = true;
      this.socket.cork();
      setImmediate(() => {
        this.corked = false;
        this.socket.uncork();
      });
    }
    this.socket.write(frame(message));
  }

  /** Resolves once everything written so far has been handed to the OS. */
  flush(): Promise<void> {
    if (this.corked) {
      this.corked = false;
      this.socket.uncork();
    }
    return new Promise((resolve) => this.socket.write(Buffer.alloc(0), () => resolve()));
  }
}
