/**
 * Keeps one CallListService.WatchDialogs stream open and applies it to the {@link DialogView}.
 * Every (re)opened stream starts with a snapshot that replaces the view, so a broken stream loses
 * nothing: reopened after a backoff of 100 ms doubling to 2 s (reset by every message), a refusal
 * (bad token) at the longest delay. State: running (from {@link DialogStream.start}) → stopped.
 */
import type { WatchDialogsResponse } from '@flexseat/proto'
import type { Logger } from 'pino'
import type { DialogView } from './dialog-view'
import { RegistryCallError } from './errors'
import { Pause } from './pause'

export interface DialogStreamOptions {
  client: { watchDialogs(signal: AbortSignal): AsyncIterable<WatchDialogsResponse> }
  view: DialogView
  logger: Logger
}

const INITIAL_BACKOFF_MS = 100
const MAX_BACKOFF_MS = 2_000

export class DialogStream {
  readonly #o: DialogStreamOptions
  #stopped = false
  #current: AbortController | undefined
  readonly #pause = new Pause()
  #loop: Promise<void> | undefined

  private constructor(options: DialogStreamOptions) {
    this.#o = options
  }

  static start(options: DialogStreamOptions): DialogStream {
    const stream = new DialogStream(options)
    stream.#loop = stream.#run()
    return stream
  }

  /** Closes the stream and ends the loop. Idempotent. */
  async stop(): Promise<void> {
    if (!this.#stopped) {
      this.#stopped = true
      this.#current?.abort(new Error('stopped'))
      this.#pause.wake()
    }
    await this.#loop
  }

  async #run(): Promise<void> {
    const { client, view, logger } = this.#o
    let failures = 0
    while (!this.#stopped) {
      const controller = new AbortController()
      this.#current = controller
      let failure: unknown
      try {
        for await (const message of client.watchDialogs(controller.signal)) {
          failures = 0
          if (message.snapshot) logger.info({ revision: message.revision, parties: message.parties.length, reloaded: view.ready }, 'dialog state loaded')
          view.apply(message)
        }
      } catch (error) {
        failure = error
      }
      if (this.#stopped) break
      failures++
      const refused = failure instanceof RegistryCallError && !failure.retryable && !failure.transport
      const delayMs = refused ? MAX_BACKOFF_MS : Math.min(MAX_BACKOFF_MS, INITIAL_BACKOFF_MS * 2 ** (failures - 1))
      const fields = { err: failure, retryInMs: delayMs, failures }
      if (refused) logger.error(fields, 'dialog stream refused by the registry')
      else if (failures === 1) logger.warn(fields, 'dialog stream broken')
      await this.#pause.for(delayMs)
    }
    this.#current = undefined
  }
}
