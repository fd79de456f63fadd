/**
 * Completed non-INVITE server transactions over UDP, kept for Timer J (64*T1, 32 s) so that a
 * retransmitted request gets the same final response again and never reaches the application a
 * second time — and nothing else is kept for them. At 12,000 REGISTER/s that is some 400,000
 * transactions at any time, so each is a few dozen bytes of index plus its response:
 *
 * - **Key**: the transaction's matching key (RFC 3261 §17.2.3: branch, sent-by, method) as a
 *   64-bit hash keyed with per-process random seeds, in an open-addressing table of 32-bit words
 *   (no string, no object, no timer per transaction).
 * - **Response**: the bytes of the final response as sent. Responses the engine builds begin
 *   with an echo of the request (status line, then its Via, From, To, Call-ID and CSeq header
 *   lines); a retransmission carries that echo again, so only what it cannot give back is
 *   stored — the status line, what the response appended to To (the To-tag) and every byte after
 *   the echo — checked byte for byte against the response sent (anything else, e.g. a response
 *   forwarded by the proxy, is stored whole). The retransmission gets those exact bytes back.
 *   The status line and the bytes after the echo are often the same for many transactions (an
 *   application answering every REGISTER or OPTIONS alike): a generation stores such a part once
 *   when it equals one of the last few it stored, and the transactions refer to it.
 * - **Expiry**: transactions are filed in generations of `retainMs / 8`; a generation is
 *   dropped whole once its newest transaction is `retainMs` old (so each is kept for Timer J and
 *   at most an eighth longer), by the next transaction or by one timer per generation. Memory is
 *   returned in slabs (of 256 KiB), without sweeping entries one by one.
 *
 * @see RFC 3261 §17.2.2 (Timer J), §17.2.3 (matching), §8.2.6.2 (the response echoes the request)
 */
import { randomBytes } from 'node:crypto';
import type { SipMessage } from './sip-message';

/** Generations per retention period. */
const GENERATIONS = 8;
/**
 * Bytes per slab of a generation's storage (a larger response gets a slab of its own). Above
 * glibc's mmap threshold (128 KiB): a dropped slab goes back to the system at once instead of
 * leaving holes in the heap.
 */
const SLAB_BYTES = 256 * 1024;
/**
 * Entry header: hash B (u32), reference of the shared part (u32), its length (u32), status line
 * length (u16; WHOLE: the shared part is the whole response), To suffix length (u16); then the
 * suffix. The shared part is the status line followed by the bytes after the echo.
 */
const HEADER_BYTES = 16;
/** Shared parts a generation remembers to refer to again. */
const RECENT_SHARED = 8;
/** Status line length marking an entry stored whole. */
const WHOLE = 0xffff;
const INITIAL_SLOTS = 1024;

const seeds = randomBytes(8);
const SEED_A = seeds.readUInt32LE(0);
const SEED_B = seeds.readUInt32LE(4);

/** Two independent 32-bit FNV-1a style hashes of a string, with per-process seeds. */
function hashes(key: string): [number, number] {
  let a = (0x811c9dc5 ^ SEED_A) >>> 0;
  let b = (0x050c5d1f ^ SEED_B) >>> 0;
  for (let i = 0; i < key.length; i++) {
    const c = key.charCodeAt(i);
    a = Math.imul(a ^ c, 0x01000193);
    b = Math.imul(b ^ c, 0x01000193) ^ (b >>> 15);
  }
  return [(a ^ (a >>> 16)) >>> 0, (b ^ (b >>> 13)) >>> 0];
}

class Generation {
  readonly start: number;
  /** Two words per slot: hash A, then 1 + the entry's reference (0: empty). */
  table = new Uint32Array(2 * INITIAL_SLOTS);
  count = 0;
  readonly slabs: Buffer[] = [];
  used = SLAB_BYTES;
  bytes = 0;
  /** The last shared parts written: their hash, reference and length. */
  readonly recent: { hash: number; ref: number; length: number }[] = [];

  constructor(start: number) {
    this.start = start;
  }

  /** Room for `size` bytes: the slab and offset to write at, and the entry's reference. */
  reserve(size: number): { slab: Buffer; offset: number; ref: number } {
    if (size > SLAB_BYTES) {
      const slab = Buffer.allocUnsafeSlow(size);
      this.slabs.push(slab);
      this.bytes += size;
      // a slab of its own is full at once: the next entry opens a new one
      this.used = SLAB_BYTES;
      return { slab, offset: 0, ref: (this.slabs.length - 1) * SLAB_BYTES };
    }
    if (this.used + size > SLAB_BYTES) {
      this.slabs.push(Buffer.allocUnsafeSlow(SLAB_BYTES));
      this.bytes += SLAB_BYTES;
      this.used = 0;
    }
    const offset = this.used;
    this.used += size;
    return { slab: this.slabs[this.slabs.length - 1]!, offset, ref: (this.slabs.length - 1) * SLAB_BYTES + offset };
  }

  at(ref: number): { slab: Buffer; offset: number } {
    return { slab: this.slabs[Math.floor(ref / SLAB_BYTES)]!, offset: ref % SLAB_BYTES };
  }

  /** The reference of `part` in this generation's storage: a recent equal one, else a new copy. */
  share(part: Buffer): number {
    const hash = bytesHash(part);
    for (const r of this.recent) {
      if (r.hash !== hash || r.length !== part.length) continue;
      const { slab, offset } = this.at(r.ref);
      if (slab.compare(part, 0, part.length, offset, offset + part.length) === 0) return r.ref;
    }
    const { slab, offset, ref } = this.reserve(part.length);
    part.copy(slab, offset);
    this.recent.push({ hash, ref, length: part.length });
    if (this.recent.length > RECENT_SHARED) this.recent.shift();
    return ref;
  }

  insert(a: number, ref: number): void {
    // linear probing at a load factor of at most 0.7
    if (10 * (this.count + 1) > 7 * (this.table.length / 2)) this.grow();
    const mask = this.table.length / 2 - 1;
    let slot = a & mask;
    while (this.table[2 * slot + 1] !== 0) slot = (slot + 1) & mask;
    this.table[2 * slot] = a;
    this.table[2 * slot + 1] = ref + 1;
    this.count++;
  }

  /** The reference of the entry with hashes `a` and `b`, or -1. */
  find(a: number, b: number): number {
    const mask = this.table.length / 2 - 1;
    for (let slot = a & mask; this.table[2 * slot + 1] !== 0; slot = (slot + 1) & mask) {
      if (this.table[2 * slot] !== a) continue;
      const ref = this.table[2 * slot + 1]! - 1;
      const { slab, offset } = this.at(ref);
      if (slab.readUInt32LE(offset) === b) return ref;
    }
    return -1;
  }

  private grow(): void {
    const old = this.table;
    this.table = new Uint32Array(old.length * 2);
    this.count = 0;
    for (let i = 0; i < old.length; i += 2) if (old[i + 1] !== 0) this.insert(old[i]!, old[i + 1]! - 1);
  }
}

/** A 32-bit FNV-1a hash of bytes (to find an equal shared part quickly). */
function bytesHash(data: Buffer): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < data.length; i++) h = Math.imul(h ^ data[i]!, 0x01000193);
  return h >>> 0;
}

/** The start of a response the engine built: status line, then the echo of the request. */
function echo(statusLine: string, request: SipMessage, toSuffix: string): string {
  let head = `${statusLine}\r\n`;
  for (const h of request.headers) if (h.key === 'via') head += `${h.name}: ${h.value}\r\n`;
  return `${head}From: ${request.get('from') ?? ''}\r\nTo: ${request.get('to') ?? ''}${toSuffix}\r\nCall-ID: ${request.get('call-id') ?? ''}\r\nCSeq: ${request.get('cseq') ?? ''}\r\n`;
}

/** See the file comment. */
export class CompletedTransactions {
  private readonly retainMs: number;
  private readonly spanMs: number;
  private readonly now: () => number;
  private generations: Generation[] = [];
  /** One unref'd timer per generation, so that an idle engine gives the memory back too. */
  private readonly timers = new Set<NodeJS.Timeout>();

  /** @param retainMs how long a transaction is kept (Timer J). */
  constructor(retainMs: number, now: () => number = () => performance.now()) {
    this.retainMs = retainMs;
    this.spanMs = Math.max(retainMs / GENERATIONS, 1);
    this.now = now;
  }

  /** Transactions held. */
  get size(): number {
    let n = 0;
    for (const g of this.generations) n += g.count;
    return n;
  }

  /** Bytes held: the slabs and the index tables. */
  get bytes(): number {
    let n = 0;
    for (const g of this.generations) n += g.bytes + g.table.byteLength;
    return n;
  }

  /**
   * Files a completed transaction: `response` is the final response sent for `request` (the
   * request as the engine received it), `wire` its bytes.
   */
  add(key: string, request: SipMessage, response: SipMessage, wire: Buffer): void {
    const gen = this.current();
    const [a, b] = hashes(key);
    const statusLine = response.startLine();
    const to = request.get('to') ?? '';
    const sentTo = response.get('to') ?? '';
    const suffix = sentTo.startsWith(to) ? sentTo.slice(to.length) : undefined;
    let shared = wire;
    let statusBytes = WHOLE;
    let suffixBytes: Buffer | undefined;
    if (suffix !== undefined) {
      const prefix = Buffer.from(echo(statusLine, request, suffix), 'utf8');
      const status = Buffer.byteLength(statusLine, 'utf8');
      // (lengths that do not fit the entry's 16-bit fields: the response is stored whole)
      if (status < WHOLE && Buffer.byteLength(suffix, 'utf8') < WHOLE && wire.length >= prefix.length && wire.compare(prefix, 0, prefix.length, 0, prefix.length) === 0) {
        statusBytes = status;
        shared = Buffer.concat([wire.subarray(0, statusBytes), wire.subarray(prefix.length)]);
        suffixBytes = Buffer.from(suffix, 'utf8');
      }
    }
    const sharedRef = gen.share(shared);
    const { slab, offset, ref } = gen.reserve(HEADER_BYTES + (suffixBytes?.length ?? 0));
    slab.writeUInt32LE(b, offset);
    slab.writeUInt32LE(sharedRef, offset + 4);
    slab.writeUInt32LE(shared.length, offset + 8);
    slab.writeUInt16LE(statusBytes, offset + 12);
    slab.writeUInt16LE(suffixBytes?.length ?? 0, offset + 14);
    suffixBytes?.copy(slab, offset + HEADER_BYTES);
    gen.insert(a, ref);
  }

  /**
   * The final response to send again for `request`, a retransmission of a completed
   * transaction whose key is `key`; undefined when there is none (any more).
   */
  lookup(key: string, request: SipMessage): Buffer | undefined {
    this.expire();
    if (this.generations.length === 0) return undefined;
    const [a, b] = hashes(key);
    for (let i = this.generations.length - 1; i >= 0; i--) {
      const gen = this.generations[i]!;
      const ref = gen.find(a, b);
      if (ref >= 0) {
        const { slab, offset } = gen.at(ref);
        const shared = gen.at(slab.readUInt32LE(offset + 4));
        const sharedLength = slab.readUInt32LE(offset + 8);
        const statusBytes = slab.readUInt16LE(offset + 12);
        const part = shared.slab.subarray(shared.offset, shared.offset + sharedLength);
        if (statusBytes === WHOLE) return Buffer.from(part);
        const suffixStart = offset + HEADER_BYTES;
        const suffix = slab.toString('utf8', suffixStart, suffixStart + slab.readUInt16LE(offset + 14));
        return Buffer.concat([Buffer.from(echo(part.toString('utf8', 0, statusBytes), request, suffix), 'utf8'), part.subarray(statusBytes)]);
      }
    }
    return undefined;
  }

  /** Drops the generations whose newest transaction is older than the retention. */
  expire(): void {
    const now = this.now();
    let drop = 0;
    while (drop < this.generations.length && now - (this.generations[drop]!.start + this.spanMs) >= this.retainMs) drop++;
    if (drop > 0) this.generations = this.generations.slice(drop);
  }

  /** Forgets everything (engine stop). */
  clear(): void {
    this.generations = [];
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
  }

  private current(): Generation {
    this.expire();
    const now = this.now();
    const last = this.generations[this.generations.length - 1];
    if (last !== undefined && now - last.start < this.spanMs) return last;
    const gen = new Generation(now);
    this.generations.push(gen);
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      this.expire();
    }, this.retainMs + this.spanMs + 1);
    timer.unref();
    this.timers.add(timer);
    return gen;
  }
}
