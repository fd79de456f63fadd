/**
 * A pause between retries that can be cut short: a loop that waits out a backoff must wake at
 * once when it is stopped (or told to start over), not when its timer ends. The timer is
 * unref'd, so a pause never keeps the process alive.
 */
export class Pause {
  #wake: (() => void) | undefined

  /** Resolves after `ms`, or at once when {@link wake} is called meanwhile. */
  for(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms)
      timer.unref()
      const self = this
      function done(): void {
        clearTimeout(timer)
        self.#wake = undefined
        resolve()
      }
      this.#wake = done
    })
  }

  /** Ends the current pause, if any. */
  wake(): void {
    this.#wake?.()
  }
}
