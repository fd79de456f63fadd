import { createWriteStream, type WriteStream } from 'node:fs'
import { once } from 'node:events'

/**
 * The files of a chaos run (one directory per run), the interface between this runner and the
 * checkers of `@flexseat/history-check`. packages/chaos/README.md says what each field and each
 * outcome means, per operation and per way in.
 */

/** What a client did. */
export type OpKind = 'login' | 'logout' | 'read'
/** How it reached the registry: a desk phone's `*51` (SIP) or the registry's gRPC API. */
export type OpVia = 'sip' | 'grpc'
/**
 * - `ok`: it took effect (a read: it saw what `result` says);
 * - `fail`: it certainly took no effect;
 * - `info`: indeterminate (a timeout, a lost connection, `503 Sign-in unavailable`): it may or may
 *   not have taken effect, now or later.
 */
export type OpOutcome = 'ok' | 'fail' | 'info'

/** One line of history.jsonl: one client operation, written when it completed (or at the end). */
export interface HistoryOp {
  /** Unique; for a gRPC write its `request_id`. */
  id: string
  /** The client that ran it, e.g. `sip:amsterdam:desk-1` or `grpc:berlin` (one operation at a time each). */
  process: string
  kind: OpKind
  userId: string
  /** The desk of a login (and of a SIP logout: the desk where `*51` was dialled); "" otherwise. */
  deviceId: string
  via: OpVia
  /** Wall-clock ms (Date.now()) of this machine when the client invoked it. */
  invokeMs: number
  /** When it returned; null when it never did. */
  completeMs: number | null
  outcome: OpOutcome
  /** A read's answer: where the worker sat (null: not seated). A login's: the desk it seated. */
  result?: { deviceId: string | null; pending?: number }
  /** Why it failed or is indeterminate (a gRPC status name and message, a SIP status line). */
  error?: string
  /** The SIP Call-ID of a `*51` dial (for finding it in the node's log). */
  callId?: string
  /**
   * A `*51` dial's registry request ids: the SIP node derives each from the INVITE it handled
   * (sip-node's featureRequestId), one per request it may have made (a sign-in: Login, or
   * RenewSeat where the worker sits already; a sign-out: Logout), for each INVITE the phone sent.
   * The checkers settle an indeterminate dial by them (history-check's indeterminate.ts).
   */
  requestIds?: string[]
}

/** One line of watch.jsonl: one event a watching client got from WatchSeats. */
export interface WatchLine {
  client: string
  atMs: number
  /** The etcd revision of the change (of the snapshot, for `snapshot` lines). */
  revision: number
  userId: string
  /** The seat's desk (`seated`, `pending`, `snapshot`); null for `released`. */
  deviceId: string | null
  /**
   * `snapshot-initial` / `snapshot-compacted` / `snapshot-ahead` (a snapshot's first line, userId
   * ""), `snapshot` (one line per seat in it), `seated`, `pending` (seated, revocations still
   * outstanding: not active yet), `released`.
   */
  type: string
  /** On the first line received after the stream was opened again (resumed after the last revision received). */
  reconnect?: true
}

/** One line of phones.jsonl: what a desk phone (sipp) received. */
export interface PhoneLine {
  atMs: number
  deviceId: string
  /** `ringing`: an INVITE for the worker; `presenting`: told it carries the worker; `revoked`: told it no longer does. */
  event: 'ringing' | 'presenting' | 'revoked'
  userId: string
  callId?: string
  /** The MESSAGE text or the INVITE's To, as received. */
  detail?: string
}

/** One line of faults.jsonl. */
export interface FaultLine {
  name: string
  startMs: number
  endMs: number
  /** What it hit: `registry:berlin`, `etcd:etcd-1`, `branch:chicago`, `wan`, ... */
  target: string
}

/** etcd.json: where a checker replays the seat keys' history from. */
export interface EtcdInfo {
  endpoints: string[]
  prefix: string
  fromRevision: number
  toRevision: number
}

/** One line of calls.jsonl (not a checker input: the report's call figures). */
export interface CallLine {
  id: string
  process: string
  from: string
  extension: string
  userId: string
  invokeMs: number
  completeMs: number
  status: number | null
  reason: string
}

/** Appends JSON lines to a file; {@link close} flushes. */
export class JsonLines<T> {
  readonly path: string
  readonly #stream: WriteStream
  count = 0

  constructor(path: string) {
    this.path = path
    this.#stream = createWriteStream(path, { flags: 'w' })
  }

  write(record: T): void {
    this.count += 1
    this.#stream.write(`${JSON.stringify(record)}\n`)
  }

  async close(): Promise<void> {
    if (this.#stream.closed) return
    this.#stream.end()
    await once(this.#stream, 'close')
  }
}
