import {
  CreateUserResponse,
  GetUserRequest,
  GetUserResponse,
  UpdateUserResponse,
  User,
} from '@flexseat/proto'
import { UsageError } from '../errors'
import { formatUser, formatUsers } from '../format-records'
import { parseFunctionKey } from '../function-keys'
import type { CommandInput } from '../args'
import { classesFromOptions, type CommandContext, type CommandSpec, type FieldOption, fieldsFromOptions, idArgument, newRequestId, pinOption } from './command'

/** The writable user fields and the options that set them. */
const USER_FIELDS: readonly FieldOption<User>[] = [
  { option: 'ext', field: 'extension', path: 'extension', kind: 'string' },
  { option: 'name', field: 'displayName', path: 'display_name', kind: 'string' },
  { option: 'home', field: 'homeSiteId', path: 'home_site_id', kind: 'string' },
  { option: 'did', field: 'did', path: 'did', kind: 'string' },
  { option: 'email', field: 'email', path: 'email', kind: 'string' },
  { option: 'mobile', field: 'mobile', path: 'mobile', kind: 'string' },
  { option: 'department', field: 'department', path: 'department', kind: 'string' },
  { option: 'roaming', off: 'no-roaming', field: 'roamingAllowed', path: 'roaming_allowed', kind: 'boolean' },
  { option: 'max-hours', field: 'maxSeatHours', path: 'max_seat_hours', kind: 'integer' },
  { option: 'fallback', field: 'fallback', path: 'fallback', kind: 'string' },
  { option: 'given-name', field: 'givenName', path: 'given_name', kind: 'string' },
  { option: 'surname', field: 'surname', path: 'surname', kind: 'string' },
  { option: 'username', field: 'username', path: 'username', kind: 'string' },
  { option: 'fkey-profile', field: 'functionKeyProfile', path: 'function_key_profile', kind: 'string' },
  { option: 'label', field: 'label', path: 'label', kind: 'string' },
  { option: 'language', field: 'language', path: 'language', kind: 'string' },
]

/** The worker's own keys: `--key` (repeated, in order) sets them, `--no-keys` removes them. */
function keysFromOptions(input: CommandInput): { values: Partial<User>; paths: string[] } {
  const keys = input.all('key')
  if (keys !== undefined && input.flag('no-keys')) throw new UsageError(`${input.command}: give --key or --no-keys, not both`, input.command)
  if (keys !== undefined) return { values: { functionKeys: keys.map((key) => parseFunctionKey(key, input.command)) }, paths: ['function_keys'] }
  if (input.flag('no-keys')) return { values: { functionKeys: [] }, paths: ['function_keys'] }
  return { values: {}, paths: [] }
}

/** `--lamp-caller show|hide|branch`: the worker's show_caller_on_lamps (branch: unset). */
function lampCallerFromOptions(input: CommandInput): { values: Partial<User>; paths: string[] } {
  const value = input.string('lamp-caller')
  if (value === undefined) return { values: {}, paths: [] }
  const choice = { show: true, hide: false, branch: undefined }
  if (!(value in choice)) throw new UsageError(`${input.command}: --lamp-caller is show, hide or branch, not "${value}"`, input.command)
  return { values: { showCallerOnLamps: choice[value as keyof typeof choice] }, paths: ['show_caller_on_lamps'] }
}

const FIELD_OPTIONS = [
  'ext',
  'name',
  'home',
  'did',
  'email',
  'mobile',
  'department',
  'roaming',
  'no-roaming',
  'max-hours',
  'fallback',
  'given-name',
  'surname',
  'username',
  'fkey-profile',
  'label',
  'language',
  'classes',
  'key',
  'no-keys',
  'lamp-caller',
] as const

function showUser(context: CommandContext, user: User | undefined, document: unknown): void {
  if (context.json) context.printJson(document)
  else if (user !== undefined) context.print(formatUser(user))
}

const create: CommandSpec = {
  path: ['user', 'create'],
  synopsis: '--ext N --name TEXT --home SITE [--id ID] [fields...] [--pin-stdin | --pin N]',
  summary: 'create a user (a flex worker)',
  details:
    'The initial PIN (4 to 12 digits) is read from stdin unless --pin is given: prompted twice\n' +
    'without echo on a terminal, else the first line. --pin puts the PIN in the process list.',
  options: ['id', ...FIELD_OPTIONS, 'pin-stdin', 'pin'],
  async run(context) {
    const { input } = context
    input.required('ext')
    input.required('name')
    input.required('home')
    const { values } = fieldsFromOptions(input, USER_FIELDS)
    Object.assign(values, keysFromOptions(input).values, classesFromOptions(input).values, lampCallerFromOptions(input).values)
    const pin = (await pinOption(context, { label: 'PIN', confirm: true }, true)) ?? ''
    const client = context.client()
    const d = client.directory
    const response = await client.call(
      d.createUser.bind(d),
      { requestId: newRequestId(), user: User.fromPartial({ ...values, id: input.string('id') ?? '' }), pin },
      context.signal,
    )
    showUser(context, response.user, CreateUserResponse.toJSON(response))
  },
}

const update: CommandSpec = {
  path: ['user', 'update'],
  synopsis: '<id> [--ext N] [--name TEXT] [--home SITE] [fields...]',
  summary: 'change the given fields of a user (only those)',
  details:
    'An empty value clears a field, e.g. --did "". --no-roaming withdraws roaming.\n' +
    '--key TYPE:VALUE[:LABEL] (repeated, in order) sets the worker\'s own function keys, which replace\n' +
    'the keys of their profile (--fkey-profile); --no-keys removes them.',
  options: FIELD_OPTIONS,
  positionals: { min: 1, max: 1, names: '<id>' },
  async run(context) {
    const id = idArgument(context)
    const fields = fieldsFromOptions(context.input, USER_FIELDS)
    const keys = keysFromOptions(context.input)
    const classes = classesFromOptions(context.input)
    const lampCaller = lampCallerFromOptions(context.input)
    const values = { ...fields.values, ...keys.values, ...classes.values, ...lampCaller.values }
    const paths = [...fields.paths, ...keys.paths, ...classes.paths, ...lampCaller.paths]
    if (paths.length === 0) throw new UsageError('user update: nothing to change (give at least one field option)', 'user update')
    const client = context.client()
    const d = client.directory
    const response = await client.call(
      d.updateUser.bind(d),
      { requestId: newRequestId(), user: User.fromPartial({ ...values, id }), updateMask: paths },
      context.signal,
    )
    showUser(context, response.user, UpdateUserResponse.toJSON(response))
  },
}

const remove: CommandSpec = {
  path: ['user', 'delete'],
  synopsis: '<id>',
  summary: 'delete a user (releases their seat)',
  options: [],
  positionals: { min: 1, max: 1, names: '<id>' },
  async run(context) {
    const id = idArgument(context)
    const client = context.client()
    const d = client.directory
    await client.call(d.deleteUser.bind(d), { requestId: newRequestId(), userId: id }, context.signal)
    if (context.json) context.printJson({ deleted: { userId: id } })
    else context.print(`deleted user ${id}\n`)
  },
}

const get: CommandSpec = {
  path: ['user', 'get'],
  synopsis: '<id> | --ext N',
  summary: 'show a user, by id or extension',
  options: ['ext'],
  positionals: { min: 0, max: 1, names: '<id>' },
  async run(context) {
    const { input } = context
    const id = input.positionals[0]
    const ext = input.string('ext')
    if ((id === undefined) === (ext === undefined)) throw new UsageError('user get: give the id or --ext, one of them', 'user get')
    const request: GetUserRequest = { key: id !== undefined ? { $case: 'userId', value: id } : { $case: 'extension', value: ext ?? '' } }
    const client = context.client()
    const d = client.directory
    const response = await client.call(d.getUser.bind(d), request, context.signal)
    showUser(context, response.user, GetUserResponse.toJSON(response))
  },
}

const list: CommandSpec = {
  path: ['user', 'list'],
  synopsis: '[--home SITE]',
  summary: 'list users (every page)',
  options: ['home'],
  async run(context) {
    const client = context.client()
    const d = client.directory
    const users: User[] = []
    let pageToken = ''
    do {
      const page = await client.call(d.listUsers.bind(d), { homeSiteId: context.input.string('home') ?? '', pageSize: 1000, pageToken }, context.signal)
      users.push(...page.users)
      pageToken = page.nextPageToken
    } while (pageToken !== '')
    if (context.json) context.printJson({ users: users.map((u) => User.toJSON(u)) })
    else context.print(formatUsers(users))
  },
}

const resetPin: CommandSpec = {
  path: ['user', 'reset-pin'],
  synopsis: '<id> [--pin-stdin | --pin N]',
  summary: 'set a user\'s PIN without the old one and clear a lockout',
  details: 'The new PIN is read from stdin unless --pin is given (prompted twice without echo on a terminal).',
  options: ['pin-stdin', 'pin'],
  positionals: { min: 1, max: 1, names: '<id>' },
  async run(context) {
    const id = idArgument(context)
    const pin = (await pinOption(context, { label: 'new PIN', confirm: true }, true)) ?? ''
    const client = context.client()
    const d = client.directory
    await client.call(d.resetPin.bind(d), { requestId: newRequestId(), userId: id, newPin: pin }, context.signal)
    if (context.json) context.printJson({ pinReset: { userId: id } })
    else context.print(`PIN of user ${id} reset\n`)
  },
}

const unlock: CommandSpec = {
  path: ['user', 'unlock'],
  synopsis: '<id> [--device ID]',
  summary: 'lift a worker\'s wrong-PIN lock, everywhere or at one desk',
  details:
    'Without --device: the worker\'s lock at every desk, their locks at single desks and their count of wrong PINs. ' +
    'With --device: only their lock and count at that desk. The PIN stays (reset-pin sets a new one).',
  options: ['device'],
  positionals: { min: 1, max: 1, names: '<id>' },
  async run(context) {
    const id = idArgument(context)
    const deviceId = context.input.string('device') ?? ''
    const client = context.client()
    const d = client.directory
    await client.call(d.clearLockout.bind(d), { requestId: newRequestId(), userId: id, deviceId }, context.signal)
    if (context.json) context.printJson({ unlocked: { userId: id, ...(deviceId === '' ? {} : { deviceId }) } })
    else context.print(deviceId === '' ? `user ${id} unlocked at every desk\n` : `user ${id} unlocked at desk ${deviceId}\n`)
  },
}

/** The `user` commands. */
export const USER_COMMANDS: readonly CommandSpec[] = [create, update, remove, get, list, resetPin, unlock]
