/**
 * The node's view of every worker's and desk's dialogs in progress (the busy lamps' state), fed
 * by CallListService.WatchDialogs (dialog-stream.ts): a snapshot replaces it, a change replaces
 * the parties it names. Emits `changes` with the keys of the parties whose dialogs changed
 * ({@link userKey}, {@link deviceKey}); a snapshot reports every party it adds, changes or drops.
 */
import { EventEmitter } from 'node:events'
import { type ActiveDialog, CallDirection, DialogState, type WatchDialogsResponse } from '@flexseat/proto'

/** The key of a worker's dialogs. */
export const userKey = (userId: string): string => `u:${userId}`
/** The key of a desk's own dialogs. */
export const deviceKey = (deviceId: string): string => `d:${deviceId}`

/** Events of {@link DialogView}. */
export interface DialogViewEvents {
  changes: [keys: string[]]
}

export class DialogView extends EventEmitter<DialogViewEvents> {
  readonly #parties = new Map<string, readonly ActiveDialog[]>()
  #ready = false

  /** Whether a snapshot has been applied. */
  get ready(): boolean {
    return this.#ready
  }

  /** Parties with a dialog in progress. */
  get size(): number {
    return this.#parties.size
  }

  /** The dialogs in progress of a party ({@link userKey}/{@link deviceKey}); empty when idle. */
  dialogs(key: string): readonly ActiveDialog[] {
    return this.#parties.get(key) ?? []
  }

  /**
   * The desk where call `callId` rings now (a dialog of it, EARLY and INCOMING, that names a desk),
   * or undefined. A desk's own entry wins over a worker's (the same desk).
   */
  ringingDesk(callId: string): string | undefined {
    let found: string | undefined
    for (const [key, dialogs] of this.#parties) {
      const d = dialogs.find((x) => x.callId === callId && x.state === DialogState.DIALOG_STATE_EARLY && x.direction === CallDirection.CALL_DIRECTION_INCOMING && x.deviceId !== '')
      if (d === undefined) continue
      found = d.deviceId
      if (key.startsWith('d:')) break
    }
    return found
  }

  /** The first call ringing (EARLY, INCOMING) for a party, or undefined. */
  ringingFor(key: string): ActiveDialog | undefined {
    return this.dialogs(key).find((d) => d.state === DialogState.DIALOG_STATE_EARLY && d.direction === CallDirection.CALL_DIRECTION_INCOMING)
  }

  /** Applies one stream message; returns the keys of the parties that changed (and emits them). */
  apply(message: WatchDialogsResponse): string[] {
    const changed = new Set<string>()
    if (message.snapshot) {
      for (const key of this.#parties.keys()) changed.add(key)
      this.#parties.clear()
      this.#ready = true
    }
    for (const party of message.parties) {
      const key = party.userId !== '' ? userKey(party.userId) : deviceKey(party.deviceId)
      if (party.dialogs.length === 0) this.#parties.delete(key)
      else this.#parties.set(key, party.dialogs)
      changed.add(key)
    }
    const keys = [...changed]
    if (keys.length > 0) this.emit('changes', keys)
    return keys
  }
}
