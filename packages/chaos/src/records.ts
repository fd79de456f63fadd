import { createWriteStream, type WriteStream } from 'node:fs'
import { once } from 'node:events'
// The records are the checkers' input: their types are the checkers' own.
import type { EtcdInfo, Fault, Operation, PhoneEvent, WatchEvent } from '@flexseat/history-check'

/**
 * The files of a chaos run (one directory per run), the interface between this runner and the
 * checkers of `@flexseat/history-check`. packages/chaos/README.md says what each field and each
 * outcome means, per operation and per way in.
 */

/** What a client did. */
export type OpKind = Operation['kind']
/** How it reached the registry: a desk phone's `*51` (SIP) or the registry's gRPC API. */
export type OpVia = Operation['via']
/**
 * - `ok`: it took effect (a read: it saw what `result` says);
 * - `fail`: it certainly took no effect;
 * - `info`: indeterminate (a timeout, a lost connection, `503 Sign-in unavailable`): it may or may
 *   not have taken effect, now or later.
 */
export type OpOutcome = Operation['outcome']

/**
 * One line of history.jsonl: one client operation, written when it completed (or at the end), as
 * the checkers read it (history-check's Operation: for a SIP logout `deviceId` is the desk where
 * `*51` was dialled; `requestIds` are a `*51` dial's registry request ids, which the SIP node
 * derives from each INVITE the phone sent), plus what only the report reads.
 */
export interface HistoryOp extends Omit<Operation, 'result'> {
  /** A read's answer: where the worker sat (null: not seated). A login's: the desk it seated. */
  result?: { deviceId: string | null; pending?: number }
  /** The SIP Call-ID of a `*51` dial (for finding it in the node's log). */
  callId?: string
}

/**
 * One line of watch.jsonl: one event a watching client got from WatchSeats. `type`:
 * `snapshot-initial` / `snapshot-compacted` / `snapshot-ahead` (a snapshot's first line, userId
 * ""), `snapshot` (one line per seat in it), `seated`, `pending` (seated, revocations still
 * outstanding: not active yet), `released`; `deviceId` null for `released`; `reconnect` on the
 * first line received after the stream was opened again.
 */
export type WatchLine = WatchEvent

/**
 * One line of phones.jsonl: what a desk phone (sipp) received. `ringing`: an INVITE for the
 * worker; `presenting`: told it carries the worker; `revoked`: told it no longer does.
 */
export interface PhoneLine extends PhoneEvent {
  /** The MESSAGE text or the INVITE's To, as received. */
  detail?: string
}

/** One line of faults.jsonl. `target`: what it hit: `registry:berlin`, `etcd:etcd-1`, `branch:chicago`, `wan`, ... */
export type FaultLine = Fault

/** etcd.json: where a checker replays the seat keys' history from. */
export type { EtcdInfo }

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
