/**
 * CallListService.WatchDialogs: the dialogs in progress of every worker (`activity/<user>`) and
 * every desk (`desk-activity/<device>`), as the SIP nodes report them (call-activity.ts), streamed
 * to the branches' nodes, which serve them to the phones' busy lamps (RFC 4235 dialog-state
 * subscriptions).
 *
 * The stream starts with a snapshot (both prefixes read at one revision; only parties with a
 * dialog in progress), then follows both prefixes from the next revision with one etcd watch
 * each: every etcd response becomes one message holding the parties it touched, each whole (a
 * record deleted, when its lease ends, is an idle party). Each key is in one watch, and etcd
 * delivers a key's changes in order, so a party's state never goes back. When a watch breaks the
 * stream sends a fresh snapshot (replacing everything) rather than resuming: the state is small
 * and current state is all a lamp shows.
 */
import type { Etcd3, IKeyValue, IWatchResponse, Watcher } from 'etcd3'
import { type ActiveDialog, CallDirection, DialogState, type PartyDialogs, type WatchDialogsResponse } from '@flexseat/proto'
import type { Logger } from 'pino'
import type { Keys } from './keys'
import { parseJson, prefixEnd, retryRead } from './kv'
import type { ActivityRecord } from './records'

/** What a dialog watch needs. */
export interface DialogWatchContext {
  etcd: Etcd3
  keys: Keys
  logger: Logger
  /** Called with every etcd answer (health tracking). */
  onContact?: () => void
}

/** The party and dialogs of one activity key (undefined for a key of neither prefix). */
export function partyOf(keys: Keys, key: string, record: ActivityRecord | undefined): PartyDialogs | undefined {
  let party: { userId: string; deviceId: string }
  if (key.startsWith(keys.activities)) party = { userId: key.slice(keys.activities.length), deviceId: '' }
  else if (key.startsWith(keys.deskActivities)) party = { userId: '', deviceId: key.slice(keys.deskActivities.length) }
  else return undefined
  const dialogs: ActiveDialog[] = Object.entries(record?.calls ?? {}).map(([callId, call]) => ({
    callId,
    state: call.state === 'confirmed' ? DialogState.DIALOG_STATE_CONFIRMED : DialogState.DIALOG_STATE_EARLY,
    direction: call.direction === 'out' ? CallDirection.CALL_DIRECTION_OUTGOING : call.direction === 'in' ? CallDirection.CALL_DIRECTION_INCOMING : CallDirection.CALL_DIRECTION_UNSPECIFIED,
    siteId: call.siteId,
    deviceId: call.deviceId ?? '',
    callerTag: call.callerTag ?? '',
    otherParty: call.otherParty ?? '',
    otherPartyName: call.otherPartyName ?? '',
    since: new Date(call.since),
  }))
  return { ...party, dialogs }
}

/** Everything in progress, at one revision. */
async function snapshot(ctx: DialogWatchContext): Promise<WatchDialogsResponse> {
  const { etcd, keys } = ctx
  const users = await retryRead(() => etcd.kv.range({ key: Buffer.from(keys.activities), range_end: prefixEnd(keys.activities) }))
  const revision = users.header.revision
  const desks = await retryRead(() => etcd.kv.range({ key: Buffer.from(keys.deskActivities), range_end: prefixEnd(keys.deskActivities), revision }))
  ctx.onContact?.()
  const parties = [...users.kvs, ...desks.kvs].flatMap((kv) => {
    const party = partyOf(keys, kv.key.toString('utf8'), parseJson<ActivityRecord>(kv))
    return party !== undefined && party.dialogs.length > 0 ? [party] : []
  })
  return { snapshot: true, revision, parties }
}

type Item = { kind: 'data'; res: IWatchResponse } | { kind: 'broken'; error: unknown }

/** See the file comment. Ends when `signal` aborts. */
export async function* watchDialogs(ctx: DialogWatchContext, signal: AbortSignal): AsyncGenerator<WatchDialogsResponse> {
  while (!signal.aborted) {
    const first = await snapshot(ctx)
    yield first
    const queue: Item[] = []
    let wake: (() => void) | undefined
    const push = (item: Item): void => {
      queue.push(item)
      wake?.()
    }
    const onAbort = (): void => wake?.()
    signal.addEventListener('abort', onAbort)
    const from = (BigInt(first.revision) + 1n).toString()
    const watchers: Watcher[] = [ctx.keys.activities, ctx.keys.deskActivities].map((prefix) => {
      const watcher = ctx.etcd.watch().prefix(prefix).startRevision(from).watcher()
      watcher.on('data', (res) => push({ kind: 'data', res }))
      watcher.on('disconnected', (error) => push({ kind: 'broken', error }))
      watcher.on('error', (error) => push({ kind: 'broken', error }))
      return watcher
    })
    try {
      for (;;) {
        if (signal.aborted) return
        const item = queue.shift()
        if (item === undefined) {
          await new Promise<void>((resolve) => (wake = resolve))
          wake = undefined
          continue
        }
        if (item.kind === 'broken') {
          ctx.logger.debug({ err: item.error }, 'dialog watch broke; sending a new snapshot')
          break
        }
        ctx.onContact?.()
        const parties = new Map<string, PartyDialogs>()
        let revision = first.revision
        for (const event of item.res.events) {
          const key = event.kv.key.toString('utf8')
          const party = partyOf(ctx.keys, key, event.type === 'Put' ? parseJson<ActivityRecord>(event.kv as IKeyValue) : undefined)
          if (party !== undefined) parties.set(key, party)
          revision = event.kv.mod_revision
        }
        if (parties.size > 0) yield { snapshot: false, revision, parties: [...parties.values()] }
      }
    } finally {
      signal.removeEventListener('abort', onAbort)
      await Promise.all(watchers.map((w) => w.cancel().catch(() => undefined)))
    }
    // Resuming: a short pause keeps a flapping connection from spinning.
    await new Promise((resolve) => setTimeout(resolve, 100).unref())
  }
}
