import { setTimeout as sleep } from 'node:timers/promises'
import { status as GrpcStatus } from '@grpc/grpc-js'
import { ErrorCode, errorDetailOf, type WatchSeatsResponse } from '@flexseat/proto'
import { isServiceError } from './errors'
import { backoffDelay, type RetryPolicy } from './retry'

/** Opens one WatchSeats stream resuming after `afterRevision` ("0": start with a snapshot). */
export type OpenWatch = (afterRevision: string, signal: AbortSignal) => AsyncIterable<WatchSeatsResponse>

/** Options of {@link resumingWatch}. */
export interface ResumingWatchOptions {
  /** Resume after this revision at the first connection (default "0": start with a snapshot). */
  fromRevision?: string
  /** Ends the watch (the iteration then just finishes). */
  signal: AbortSignal
  /** Delays between reconnections (default 250 ms doubling to 5 s, forever; reset by a message). */
  backoff?: Pick<RetryPolicy, 'baseDelayMs' | 'maxDelayMs'>
  /** Told when the stream broke and when it will be reopened. */
  onReconnect?(error: unknown, delayMs: number, afterRevision: string): void
}

const NEVER_RETRIED = new Set<number>([
  GrpcStatus.UNAUTHENTICATED,
  GrpcStatus.PERMISSION_DENIED,
  GrpcStatus.INVALID_ARGUMENT,
  GrpcStatus.NOT_FOUND,
  GrpcStatus.UNIMPLEMENTED,
  GrpcStatus.FAILED_PRECONDITION,
  GrpcStatus.OUT_OF_RANGE,
])

/**
 * Whether a broken watch stream is worth reopening: yes for transport failures, a registry that
 * is unavailable or shutting down; no when the request itself is refused (bad credentials, bad
 * argument), since reopening would be refused the same way.
 */
export function watchRetryable(error: unknown): boolean {
  if (!isServiceError(error)) return false
  const detail = errorDetailOf(error)
  if (detail !== undefined) {
    return detail.code === ErrorCode.ERROR_CODE_UNAVAILABLE || detail.code === ErrorCode.ERROR_CODE_NOT_LEADER || detail.code === ErrorCode.ERROR_CODE_INTERNAL
  }
  return !NEVER_RETRIED.has(error.code)
}

/**
 * The seat stream as one uninterrupted sequence of messages, across reconnections: when the
 * stream breaks (or the server ends it), it is reopened with backoff after the revision of the
 * last message seen, with no gap and no duplicate. Every message is complete at its revision (a
 * snapshot, or all the changes of one revision), so resuming right after it is exact; a message
 * at or before that revision (a misbehaving server) is dropped rather than delivered twice.
 */
export async function* resumingWatch(open: OpenWatch, options: ResumingWatchOptions): AsyncGenerator<WatchSeatsResponse, void, undefined> {
  const { signal } = options
  const backoff = { attempts: Infinity, baseDelayMs: 250, maxDelayMs: 5_000, ...options.backoff }
  // Everything up to and including revision `after` was delivered.
  let after = BigInt(options.fromRevision ?? '0')
  let failures = 0
  while (!signal.aborted) {
    try {
      for await (const message of open(after.toString(), signal)) {
        failures = 0
        const body = message.message
        if (body?.$case === 'snapshot') {
          // A snapshot replaces the view (initial or after compaction): it sets the position even
          // when it is not newer.
          after = BigInt(body.value.revision)
        } else if (body?.$case === 'changes') {
          const revision = BigInt(body.value.revision)
          if (revision <= after) continue
          after = revision
        }
        yield message
      }
    } catch (error) {
      if (signal.aborted) return
      if (!watchRetryable(error)) throw error
      failures++
      const delayMs = backoffDelay(backoff, failures)
      options.onReconnect?.(error, delayMs, after.toString())
      try {
        await sleep(delayMs, undefined, { signal })
      } catch {
        return
      }
      continue
    }
    // The server ended the stream (e.g. shutting down): reopen it after a short pause.
    if (signal.aborted) return
    failures++
    const delayMs = backoffDelay(backoff, failures)
    options.onReconnect?.(undefined, delayMs, after.toString())
    try {
      await sleep(delayMs, undefined, { signal })
    } catch {
      return
    }
  }
}
