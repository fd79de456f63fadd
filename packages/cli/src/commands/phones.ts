import { PhoneBinding } from '@flexseat/proto'
import { formatBindings } from '../format-records'
import type { CommandSpec } from './command'

const phones: CommandSpec = {
  path: ['phones'],
  synopsis: '[--site SITE]',
  summary: 'list the phones registered at their branches\' SIP nodes (every page), optionally of one site',
  details: 'A phone shows while its registration has not expired; its SIP node reports it to the registry.',
  options: ['site'],
  async run(context) {
    const client = context.client()
    const b = client.branch
    const all: PhoneBinding[] = []
    let pageToken = ''
    do {
      const page = await client.call(b.listBindings.bind(b), { siteId: context.input.string('site') ?? '', pageSize: 1000, pageToken }, context.signal)
      all.push(...page.bindings)
      pageToken = page.nextPageToken
    } while (pageToken !== '')
    // The list is there even when empty (proto3 JSON would leave it out), for `jq '.bindings[]'`.
    if (context.json) context.printJson({ bindings: all.map((binding) => PhoneBinding.toJSON(binding)) })
    else context.print(formatBindings(all))
  },
}

/** The phones online (their registrations at the branches). */
export const PHONE_COMMANDS: readonly CommandSpec[] = [phones]
