/**
 * The feature codes (`*51`, `*52`...) a desk has dialled and not been answered yet. A sign-in's
 * own seat change reaches the node on its seat stream about when the registry's Login answer
 * does, often first; the seat notifier (seat-notifier.ts) holds what it sends that desk (the
 * `check-sync` NOTIFY, the display text) until the desk's final response has gone out, so the
 * phone waiting for it is not sent two requests first (issue 15's traces: 5-20 ms before the
 * answer, at the desk's engine and phone).
 */

/** How long a desk's notifications wait for its answer at most, in ms. */
export const ANSWER_WAIT_MS = 2_000

/** Feature codes in flight per desk (see the file comment). */
export class DeskAnswers {
  readonly #open = new Map<string, { count: number; done: Promise<void>; resolve: () => void }>()

  /** Notes a feature code dialled at `deviceId`; call the function returned once it is answered (idempotent). */
  begin(deviceId: string): () => void {
    let entry = this.#open.get(deviceId)
    if (entry === undefined) {
      let resolve!: () => void
      const done = new Promise<void>((r) => (resolve = r))
      entry = { count: 0, done, resolve }
      this.#open.set(deviceId, entry)
    }
    const mine = entry
    mine.count += 1
    let ended = false
    return () => {
      if (ended) return
      ended = true
      mine.count -= 1
      if (mine.count > 0) return
      if (this.#open.get(deviceId) === mine) this.#open.delete(deviceId)
      mine.resolve()
    }
  }

  /** Resolves once `deviceId` has no feature code in flight (at once when none), or after {@link ANSWER_WAIT_MS}. */
  async settled(deviceId: string, maxMs = ANSWER_WAIT_MS): Promise<void> {
    const entry = this.#open.get(deviceId)
    if (entry === undefined) return
    let timer: NodeJS.Timeout | undefined
    const timeout = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, maxMs)
      timer.unref()
    })
    try {
      await Promise.race([entry.done, timeout])
    } finally {
      clearTimeout(timer)
    }
  }
}
