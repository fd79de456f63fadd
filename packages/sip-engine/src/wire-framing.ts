/**
 * drachtio's control-socket framing: every message is `<byte length>#<payload>`, the length in
 * ASCII decimal counting the UTF-8 bytes of the payload.
 *
 * @see drachtio-srf lib/wire-protocol.js (`send`, `_onData`)
 */
import { SipEngineError } from './errors';

/** Default largest frame accepted (bytes of payload). */
export const DEFAULT_MAX_FRAME_BYTES = 1024 * 1024;

/** Encodes one payload as a frame. */
export function encodeFrame(payload: string): Buffer {
  const body = Buffer.from(payload, 'utf8');
  return Buffer.concat([Buffer.from(`${body.length}#`, 'latin1'), body]);
}

/**
 * Incremental frame decoder for one connection. A bad or oversized length prefix throws; the
 * caller closes that connection (never the engine).
 */
export class FrameDecoder {
  private buffer: Buffer = Buffer.alloc(0);
  private readonly maxFrameBytes: number;

  constructor(maxFrameBytes = DEFAULT_MAX_FRAME_BYTES) {
    this.maxFrameBytes = maxFrameBytes;
  }

  /** Bytes received but not yet part of a complete frame. */
  get pendingBytes(): number {
    return this.buffer.length;
  }

  /**
   * Feeds bytes; returns the complete payloads.
   *
   * @throws SipEngineError `WIRE_FRAMING` for a non-numeric, zero or oversized length prefix.
   */
  push(chunk: Buffer): string[] {
    this.buffer = this.buffer.length === 0 ? chunk : Buffer.concat([this.buffer, chunk]);
    const out: string[] = [];
    for (;;) {
      const hash = this.buffer.indexOf(0x23 /* # */);
      if (hash < 0) {
        if (this.buffer.length > 12 || !/^\d*$/.test(this.buffer.toString('latin1'))) {
          throw new SipEngineError('WIRE_FRAMING', 'missing or bad length prefix');
        }
        break;
      }
      const prefix = this.buffer.toString('latin1', 0, hash);
      if (!/^\d{1,12}$/.test(prefix)) throw new SipEngineError('WIRE_FRAMING', 'bad length prefix');
      const len = Number(prefix);
      if (len <= 0 || len > this.maxFrameBytes) {
        throw new SipEngineError('WIRE_FRAMING', `frame length ${len} out of range`);
      }
      if (this.buffer.length < hash + 1 + len) break;
      out.push(this.buffer.toString('utf8', hash + 1, hash + 1 + len));
      this.buffer = this.buffer.subarray(hash + 1 + len);
    }
    return out;
  }
}
