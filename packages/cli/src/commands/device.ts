import { CreateDeviceResponse, Device, GetDeviceCredentialsResponse, GetDeviceResponse, UpdateDeviceResponse } from '@flexseat/proto'
import { UsageError } from '../errors'
import { formatDevice, formatDevices } from '../format-records'
import { formatFields } from '../format-table'
import { parseVendor } from '../function-keys'
import type { CommandInput } from '../args'
import { classesFromOptions, type CommandContext, type CommandSpec, type FieldOption, fieldsFromOptions, idArgument, newRequestId } from './command'

/** The writable device fields and the options that set them. */
const DEVICE_FIELDS: readonly FieldOption<Device>[] = [
  { option: 'site', field: 'siteId', path: 'site_id', kind: 'string' },
  { option: 'ext', field: 'extension', path: 'extension', kind: 'string' },
  { option: 'label', field: 'label', path: 'label', kind: 'string' },
  { option: 'model', field: 'model', path: 'model', kind: 'string' },
  { option: 'flex-host', off: 'no-flex-host', field: 'flexHost', path: 'flex_host', kind: 'boolean' },
  { option: 'mac', field: 'mac', path: 'mac', kind: 'string' },
  { option: 'fkey-profile', field: 'functionKeyProfile', path: 'function_key_profile', kind: 'string' },
]

const FIELD_OPTIONS = ['site', 'ext', 'label', 'model', 'flex-host', 'no-flex-host', 'mac', 'vendor', 'fkey-profile', 'classes'] as const

/** The fields the options set, `--vendor` included (an enum the generic field options do not parse). */
function deviceFields(input: CommandInput): { values: Partial<Device>; paths: string[] } {
  const { values, paths } = fieldsFromOptions(input, DEVICE_FIELDS)
  const vendor = input.string('vendor')
  if (vendor !== undefined) {
    values.vendor = parseVendor(vendor, input.command)
    paths.push('vendor')
  }
  const classes = classesFromOptions(input)
  Object.assign(values, classes.values)
  paths.push(...classes.paths)
  return { values, paths }
}

const SIP_PASSWORD_PROMPT = { label: 'SIP password', confirm: true } as const

/** The SIP password read from stdin (no echo on a terminal); never echoed or put in an error. */
async function readSipPassword(context: CommandContext): Promise<string> {
  const [password] = await context.readPins([SIP_PASSWORD_PROMPT])
  if (password === undefined || password === '') throw new UsageError(`${context.input.command}: no SIP password given on stdin`, context.input.command)
  return password
}

function showDevice(context: CommandContext, device: Device | undefined, document: unknown): void {
  if (context.json) context.printJson(document)
  else if (device !== undefined) context.print(formatDevice(device))
}

const create: CommandSpec = {
  path: ['device', 'create'],
  synopsis: '--site SITE --ext N [--id ID] [--label TEXT] [--model TEXT] [--mac MAC] [--vendor NAME] [--fkey-profile NAME] [--flex-host] [--sip-password-stdin]',
  summary: 'create a device (a phone); --flex-host lets it host flex workers; --sip-password-stdin sets its SIP digest password',
  options: ['id', ...FIELD_OPTIONS, 'sip-password-stdin'],
  async run(context) {
    const { input } = context
    input.required('site')
    input.required('ext')
    const { values } = deviceFields(input)
    const sipPassword = input.flag('sip-password-stdin') ? await readSipPassword(context) : undefined
    const client = context.client()
    const d = client.directory
    const response = await client.call(
      d.createDevice.bind(d),
      { requestId: newRequestId(), device: Device.fromPartial({ ...values, id: input.string('id') ?? '', sipPassword }) },
      context.signal,
    )
    showDevice(context, response.device, CreateDeviceResponse.toJSON(response))
  },
}

const update: CommandSpec = {
  path: ['device', 'update'],
  synopsis: '<id> [--site SITE] [--ext N] [--label TEXT] [--model TEXT] [--mac MAC] [--vendor NAME] [--fkey-profile NAME] [--flex-host | --no-flex-host]',
  summary: 'change the given fields of a device (only those)',
  options: FIELD_OPTIONS,
  positionals: { min: 1, max: 1, names: '<id>' },
  async run(context) {
    const id = idArgument(context)
    const { values, paths } = deviceFields(context.input)
    if (paths.length === 0) throw new UsageError('device update: nothing to change (give at least one field option)', 'device update')
    const client = context.client()
    const d = client.directory
    const response = await client.call(
      d.updateDevice.bind(d),
      { requestId: newRequestId(), device: Device.fromPartial({ ...values, id }), updateMask: paths },
      context.signal,
    )
    showDevice(context, response.device, UpdateDeviceResponse.toJSON(response))
  },
}

const remove: CommandSpec = {
  path: ['device', 'delete'],
  synopsis: '<id>',
  summary: 'delete a device (releases the seat it hosts)',
  options: [],
  positionals: { min: 1, max: 1, names: '<id>' },
  async run(context) {
    const id = idArgument(context)
    const client = context.client()
    const d = client.directory
    await client.call(d.deleteDevice.bind(d), { requestId: newRequestId(), deviceId: id }, context.signal)
    if (context.json) context.printJson({ deleted: { deviceId: id } })
    else context.print(`deleted device ${id}\n`)
  },
}

const get: CommandSpec = {
  path: ['device', 'get'],
  synopsis: '<id>',
  summary: 'show a device',
  options: [],
  positionals: { min: 1, max: 1, names: '<id>' },
  async run(context) {
    const id = idArgument(context)
    const client = context.client()
    const d = client.directory
    const response = await client.call(d.getDevice.bind(d), { deviceId: id, mac: '' }, context.signal)
    showDevice(context, response.device, GetDeviceResponse.toJSON(response))
  },
}

const list: CommandSpec = {
  path: ['device', 'list'],
  synopsis: '[--site SITE]',
  summary: 'list devices (every page)',
  options: ['site'],
  async run(context) {
    const client = context.client()
    const d = client.directory
    const devices: Device[] = []
    let pageToken = ''
    do {
      const page = await client.call(d.listDevices.bind(d), { siteId: context.input.string('site') ?? '', pageSize: 1000, pageToken }, context.signal)
      devices.push(...page.devices)
      pageToken = page.nextPageToken
    } while (pageToken !== '')
    if (context.json) context.printJson({ devices: devices.map((d) => Device.toJSON(d)) })
    else context.print(formatDevices(devices))
  },
}

const setPassword: CommandSpec = {
  path: ['device', 'set-password'],
  synopsis: '<id>',
  summary: 'set a phone\'s SIP digest password, read from stdin (prompted twice without echo on a terminal)',
  options: [],
  positionals: { min: 1, max: 1, names: '<id>' },
  async run(context) {
    const id = idArgument(context)
    const sipPassword = await readSipPassword(context)
    const client = context.client()
    const d = client.directory
    const response = await client.call(
      d.updateDevice.bind(d),
      { requestId: newRequestId(), device: Device.fromPartial({ id, sipPassword }), updateMask: ['sip_password'] },
      context.signal,
    )
    showDevice(context, response.device, UpdateDeviceResponse.toJSON(response))
  },
}

const credentials: CommandSpec = {
  path: ['device', 'credentials'],
  synopsis: '<id>',
  summary: 'show a phone\'s digest realm and HA1 (admin or sip-node; HA1 is a password equivalent for that realm)',
  options: [],
  positionals: { min: 1, max: 1, names: '<id>' },
  async run(context) {
    const id = idArgument(context)
    const client = context.client()
    const d = client.directory
    const response = await client.call(d.getDeviceCredentials.bind(d), { deviceId: id }, context.signal)
    if (context.json) context.printJson(GetDeviceCredentialsResponse.toJSON(response))
    else context.print(formatFields([['device', response.deviceId], ['site', response.siteId], ['realm', response.realm], ['ha1', response.ha1]]))
  },
}

/** The `device` commands. */
const unlock: CommandSpec = {
  path: ['device', 'unlock'],
  synopsis: '<id>',
  summary: 'lift a desk\'s pause after too many wrong PINs for any workers',
  details: 'The desk throttle: PIN sign-ins at the desk work again. Workers\' own locks stay (user unlock lifts them).',
  options: [],
  positionals: { min: 1, max: 1, names: '<id>' },
  async run(context) {
    const id = idArgument(context)
    const client = context.client()
    const d = client.directory
    await client.call(d.clearLockout.bind(d), { requestId: newRequestId(), userId: '', deviceId: id }, context.signal)
    if (context.json) context.printJson({ unlocked: { deviceId: id } })
    else context.print(`desk ${id} unlocked\n`)
  },
}

export const DEVICE_COMMANDS: readonly CommandSpec[] = [create, update, remove, get, list, setPassword, credentials, unlock]
