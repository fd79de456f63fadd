import { CreateDeviceResponse, Device, GetDeviceResponse, UpdateDeviceResponse } from '@flexseat/proto'
import { UsageError } from '../errors'
import { formatDevice, formatDevices } from '../format-records'
import { type CommandContext, type CommandSpec, type FieldOption, fieldsFromOptions, idArgument, newRequestId } from './command'

/** The writable device fields and the options that set them. */
const DEVICE_FIELDS: readonly FieldOption<Device>[] = [
  { option: 'site', field: 'siteId', path: 'site_id', kind: 'string' },
  { option: 'ext', field: 'extension', path: 'extension', kind: 'string' },
  { option: 'label', field: 'label', path: 'label', kind: 'string' },
  { option: 'model', field: 'model', path: 'model', kind: 'string' },
  { option: 'flex-host', off: 'no-flex-host', field: 'flexHost', path: 'flex_host', kind: 'boolean' },
]

const FIELD_OPTIONS = ['site', 'ext', 'label', 'model', 'flex-host', 'no-flex-host'] as const

function showDevice(context: CommandContext, device: Device | undefined, document: unknown): void {
  if (context.json) context.printJson(document)
  else if (device !== undefined) context.print(formatDevice(device))
}

const create: CommandSpec = {
  path: ['device', 'create'],
  synopsis: '--site SITE --ext N [--id ID] [--label TEXT] [--model TEXT] [--flex-host]',
  summary: 'create a device (a phone); --flex-host lets it host flex workers',
  options: ['id', ...FIELD_OPTIONS],
  async run(context) {
    const { input } = context
    input.required('site')
    input.required('ext')
    const { values } = fieldsFromOptions(input, DEVICE_FIELDS)
    const client = context.client()
    const d = client.directory
    const response = await client.call(
      d.createDevice.bind(d),
      { requestId: newRequestId(), device: Device.fromPartial({ ...values, id: input.string('id') ?? '' }) },
      context.signal,
    )
    showDevice(context, response.device, CreateDeviceResponse.toJSON(response))
  },
}

const update: CommandSpec = {
  path: ['device', 'update'],
  synopsis: '<id> [--site SITE] [--ext N] [--label TEXT] [--model TEXT] [--flex-host | --no-flex-host]',
  summary: 'change the given fields of a device (only those)',
  options: FIELD_OPTIONS,
  positionals: { min: 1, max: 1, names: '<id>' },
  async run(context) {
    const id = idArgument(context)
    const { values, paths } = fieldsFromOptions(context.input, DEVICE_FIELDS)
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
    const response = await client.call(d.getDevice.bind(d), { deviceId: id }, context.signal)
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

/** The `device` commands. */
export const DEVICE_COMMANDS: readonly CommandSpec[] = [create, update, remove, get, list]
