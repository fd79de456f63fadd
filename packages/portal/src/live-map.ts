import { setTimeout as sleep } from 'node:timers/promises'
import type { Logger } from 'pino'
import { explain } from './messages'
import type { PortalRegistry, SessionCalls } from './registry'
import { clusterView, seatEventView, seatView } from './views'

/** What the live map sends: an event name and its JSON. */
export type LiveMapSend = (event: 'snapshot' | 'seats' | 'cluster' | 'ended', data: unknown) => void

/** Options of {@link runLiveMap}. */
export interface LiveMapOptions {
  registry: PortalRegistry
  /** The administrator's calls (their session). */
  calls: SessionCalls
  send: LiveMapSend
  signal: AbortSignal
  logger: Logger
  /** How often the cluster's state (leader, leases, phones online) is read, in ms (default 1 000). */
  pollMs?: number
}

/**
 * Feeds one administrator's live map until `signal` aborts or their session ends: every seat
 * change as the registry's WatchSeats delivers it (`snapshot`, then `seats` per etcd revision,
 * resumed across breaks with no gap), and the cluster's state (`cluster`: the leader, each
 * branch's confirmation lease and phones online, the phones registered) whenever a read every
 * `pollMs` finds it changed. `ended` says why the feed stopped (the session ended).
 */
export async function runLiveMap(options: LiveMapOptions): Promise<void> {
  const { calls, send, signal, logger } = options
  const { cluster, branch } = options.registry.client
  const stop = new AbortController()
  const both = AbortSignal.any([signal, stop.signal])
  const end = (error: unknown): void => {
    if (both.aborted) return
    const explained = explain(error)
    send('ended', { code: explained.code, message: explained.message })
    stop.abort()
  }
  const seats = (async () => {
    try {
      for await (const message of calls.watchSeats(both, (error) => logger.debug({ code: error === undefined ? 'ENDED' : explain(error).code }, 'seat stream resumes'))) {
        const body = message.message
        if (body?.$case === 'snapshot') send('snapshot', { revision: body.value.revision, seats: body.value.seats.map(seatView) })
        else if (body?.$case === 'changes') send('seats', { revision: body.value.revision, events: body.value.events.filter((e) => e.seat !== undefined).map(seatEventView) })
      }
    } catch (error) {
      end(error)
    }
  })()
  const state = (async () => {
    let last = ''
    while (!both.aborted) {
      try {
        const status = await calls.call(() => cluster.getClusterStatus.bind(cluster), {})
        const online: string[] = []
        let pageToken = ''
        do {
          const page = await calls.call(() => branch.listBindings.bind(branch), { siteId: '', pageSize: 1_000, pageToken })
          online.push(...page.bindings.map((b) => b.deviceId))
          pageToken = page.nextPageToken
        } while (pageToken !== '' && !both.aborted)
        const view = clusterView(status, online)
        const text = JSON.stringify(view)
        if (text !== last) send('cluster', view)
        last = text
      } catch (error) {
        const explained = explain(error)
        if (!explained.unavailable) {
          end(error)
          return
        }
      }
      await sleep(options.pollMs ?? 1_000, undefined, { signal: both }).catch(() => undefined)
    }
  })()
  await Promise.all([seats, state])
}
