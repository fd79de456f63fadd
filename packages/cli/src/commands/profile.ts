import { FunctionKeyProfile, GetFunctionKeyProfileResponse, SetFunctionKeyProfileResponse } from '@flexseat/proto'
import { UsageError } from '../errors'
import { formatFields, formatTable } from '../format-table'
import { formatFunctionKey, parseFunctionKey } from '../function-keys'
import { type CommandContext, type CommandSpec, idArgument, newRequestId } from './command'

function formatProfile(profile: FunctionKeyProfile): string {
  return formatFields([
    ['name', profile.name],
    ['description', profile.description === '' ? undefined : profile.description],
    ...profile.keys.map((key, i): [string, string] => [`key ${i + 1}`, formatFunctionKey(key)]),
    ['revision', profile.revision],
  ])
}

function showProfile(context: CommandContext, profile: FunctionKeyProfile | undefined, document: unknown): void {
  if (context.json) context.printJson(document)
  else if (profile !== undefined) context.print(formatProfile(profile))
}

const set: CommandSpec = {
  path: ['profile', 'set'],
  synopsis: '<name> [--key TYPE:VALUE[:LABEL]]... [--description TEXT]',
  summary: 'create or replace a function-key profile (the keys in the order given)',
  details:
    'Users (--fkey-profile), devices (their keys while nobody sits at them) and a site\'s\n' +
    'provisioning.default_profile name profiles. Key types: blf:EXT, speed-dial:NUMBER, line:.\n' +
    'Example: flexseat profile set sales --key line::Line --key blf:1002:Alan --key speed-dial:0301234567:Office',
  options: ['key', 'description'],
  positionals: { min: 1, max: 1, names: '<name>' },
  async run(context) {
    const name = idArgument(context)
    const keys = (context.input.all('key') ?? []).map((key) => parseFunctionKey(key, context.input.command))
    const client = context.client()
    const d = client.directory
    const response = await client.call(
      d.setFunctionKeyProfile.bind(d),
      { requestId: newRequestId(), profile: FunctionKeyProfile.fromPartial({ name, description: context.input.string('description') ?? '', keys }) },
      context.signal,
    )
    showProfile(context, response.profile, SetFunctionKeyProfileResponse.toJSON(response))
  },
}

const get: CommandSpec = {
  path: ['profile', 'get'],
  synopsis: '<name>',
  summary: 'show a function-key profile',
  options: [],
  positionals: { min: 1, max: 1, names: '<name>' },
  async run(context) {
    const name = idArgument(context)
    const client = context.client()
    const d = client.directory
    const response = await client.call(d.getFunctionKeyProfile.bind(d), { name }, context.signal)
    showProfile(context, response.profile, GetFunctionKeyProfileResponse.toJSON(response))
  },
}

const list: CommandSpec = {
  path: ['profile', 'list'],
  synopsis: '',
  summary: 'list the function-key profiles (every page)',
  options: [],
  async run(context) {
    const client = context.client()
    const d = client.directory
    const profiles: FunctionKeyProfile[] = []
    let pageToken = ''
    do {
      const page = await client.call(d.listFunctionKeyProfiles.bind(d), { pageSize: 1000, pageToken }, context.signal)
      profiles.push(...page.profiles)
      pageToken = page.nextPageToken
    } while (pageToken !== '')
    if (context.json) context.printJson({ profiles: profiles.map((p) => FunctionKeyProfile.toJSON(p)) })
    else context.print(formatTable(['NAME', { heading: 'KEYS', align: 'right' }, 'DESCRIPTION'], profiles.map((p) => [p.name, String(p.keys.length), p.description])))
  },
}

const remove: CommandSpec = {
  path: ['profile', 'delete'],
  synopsis: '<name>',
  summary: 'delete a function-key profile (whoever names it gets the site\'s default)',
  options: [],
  positionals: { min: 1, max: 1, names: '<name>' },
  async run(context) {
    const name = idArgument(context)
    if (name === '') throw new UsageError('profile delete: missing the name', 'profile delete')
    const client = context.client()
    const d = client.directory
    await client.call(d.deleteFunctionKeyProfile.bind(d), { requestId: newRequestId(), name }, context.signal)
    if (context.json) context.printJson({ deleted: { name } })
    else context.print(`deleted profile ${name}\n`)
  },
}

/** The `profile` commands (function-key profiles). */
export const PROFILE_COMMANDS: readonly CommandSpec[] = [set, get, list, remove]
