import { WatchSeatsResponse } from '@flexseat/proto'
import { describeFailure } from '../errors'
import { formatSeatChanges, formatSeatSnapshot } from '../format-records'
import { resumingWatch } from '../resuming-watch'
import type { CommandSpec } from './command'

const watch: CommandSpec = {
  path: ['watch'],
  synopsis: '[--site SITE] [--from REV]',
  summary: 'stream seat changes live, one line each, until Ctrl-C',
  details:
    'Starts with a snapshot of the current seats unless --from is given. Each line: time, SEATED or\n' +
    'RELEASED, extension, device@site, how (phone/admin) or why (logout, moved, bumped, expired,\n' +
    'admin, deleted), epoch. When the registry becomes unavailable the watch reconnects with\n' +
    'backoff and resumes after the last revision seen (no gap, no duplicate). With --json: one\n' +
    'WatchSeatsResponse per line (a snapshot, or all the changes of one revision).',
  options: ['site', 'from'],
  async run(context) {
    const { input } = context
    const from = input.string('from')
    if (from !== undefined) input.integer('from', Number.MAX_SAFE_INTEGER)
    const siteId = input.string('site') ?? ''
    const client = context.client()
    const s = client.seats
    const messages = resumingWatch((afterRevision, signal) => client.stream(s.watchSeats.bind(s), { afterRevision, siteId }, signal), {
      signal: context.signal,
      ...(from === undefined ? {} : { fromRevision: from }),
      onReconnect(error, delayMs, after) {
        const why = error === undefined ? 'the registry ended the stream' : describeFailure(error, { address: client.address }).message
        context.notice(`watch interrupted: ${why}; resuming after revision ${after} in ${(delayMs / 1000).toFixed(1)} s`)
      },
    })
    for await (const message of messages) {
      if (context.json) {
        const document = WatchSeatsResponse.toJSON(message) as { snapshot?: { seats?: unknown[] } }
        // An empty snapshot still says "no seats" explicitly (proto3 JSON would leave the list out).
        if (document.snapshot !== undefined) document.snapshot.seats ??= []
        context.printJson(document, true)
        continue
      }
      const body = message.message
      if (body?.$case === 'snapshot') context.print(formatSeatSnapshot(body.value))
      else if (body?.$case === 'changes') context.print(formatSeatChanges(body.value, context.now()))
    }
  },
}

/** The `watch` command. */
export const WATCH_COMMANDS: readonly CommandSpec[] = [watch]
