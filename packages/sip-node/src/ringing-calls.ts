/**
 * The calls that are ringing one of this branch's phones for a seated worker, and a way to stop
 * them (invariant 4: once the node acknowledged that a worker left a phone, that phone must not
 * go on ringing for the worker). A call is in here from the moment the node decides to ring the
 * worker's phone until the phone answers or the call fails; an answered call is the phone's
 * conversation, not "ringing for the worker", and is left alone.
 */

/** Why ringing calls are stopped; it decides the reason phrase the caller gets. */
export type RingingStop = 'moved' | 'signed-out' | 'offline' | 'timeout' | 'shutdown'

/** The final response a caller gets when the call ringing for `extension` is stopped for `why`. */
export function ringingStopResponse(extension: string, why: RingingStop): { status: number; reason: string } {
  switch (why) {
    case 'moved':
      return { status: 480, reason: `${extension} signed in elsewhere` }
    case 'signed-out':
      return { status: 480, reason: `${extension} is not signed in` }
    case 'offline':
    case 'shutdown':
      return { status: 480, reason: `${extension} is unreachable (branch offline)` }
    case 'timeout':
      return { status: 408, reason: 'Request Timeout' }
  }
}

/** One call ringing a phone for a worker. */
export interface RingingCall {
  readonly userId: string
  readonly extension: string
  readonly deviceId: string
  readonly callId: string
  /**
   * Answers the caller with `status`/`reason` and CANCELs the phone's leg (`why` says what
   * happened: a call that rings other phones too goes on ringing them unless the node shuts down).
   * Called at most once by {@link RingingCalls}. Resolves once the engine took the CANCEL (never
   * rejects).
   */
  stop(status: number, reason: string, why: RingingStop): Promise<void>
}

/** The registry of ringing calls (see the file comment). */
export class RingingCalls {
  readonly #calls = new Set<RingingCall>()

  /** Number of calls ringing now. */
  get size(): number {
    return this.#calls.size
  }

  /** Adds a ringing call; the returned function removes it (idempotent: answered, failed, cancelled). */
  add(call: RingingCall): () => void {
    this.#calls.add(call)
    return () => {
      this.#calls.delete(call)
    }
  }

  /** The calls ringing for a user. */
  forUser(userId: string): RingingCall[] {
    return [...this.#calls].filter((call) => call.userId === userId)
  }

  /**
   * Stops the calls ringing for `userId`, except on `keepDeviceId` (the phone where the user is
   * still seated and active). The final responses and CANCELs are handed to the engine before
   * this returns; the promise says when the engine took every CANCEL.
   */
  stopUser(userId: string, why: (call: RingingCall) => RingingStop, keepDeviceId?: string): Promise<void> {
    return this.#stop((call) => call.userId === userId && call.deviceId !== keepDeviceId, why)
  }

  /** Stops every ringing call (the branch's lease is lost, the node stops). */
  stopAll(why: RingingStop): Promise<void> {
    return this.#stop(() => true, () => why)
  }

  #stop(which: (call: RingingCall) => boolean, why: (call: RingingCall) => RingingStop): Promise<void> {
    const stopping: Promise<void>[] = []
    for (const call of [...this.#calls]) {
      if (!which(call)) continue
      this.#calls.delete(call)
      const cause = why(call)
      const { status, reason } = ringingStopResponse(call.extension, cause)
      stopping.push(call.stop(status, reason, cause))
    }
    return Promise.all(stopping).then(() => undefined)
  }
}
