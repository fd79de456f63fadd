import { CreateSiteResponse, GetSiteResponse, Site, UpdateSiteResponse } from '@flexseat/proto'
import { UsageError } from '../errors'
import { formatSite, formatSites } from '../format-records'
import { type CommandContext, type CommandSpec, type FieldOption, fieldsFromOptions, idArgument, newRequestId } from './command'

/** The writable site fields and the options that set them. */
const SITE_FIELDS: readonly FieldOption<Site>[] = [
  { option: 'name', field: 'name', path: 'name', kind: 'string' },
  { option: 'timezone', field: 'timezone', path: 'timezone', kind: 'string' },
  { option: 'emergency', field: 'emergencyNumbers', path: 'emergency_numbers', kind: 'list' },
  { option: 'location', field: 'dispatchableLocation', path: 'dispatchable_location', kind: 'string' },
  { option: 'trunk', field: 'sipTrunkUri', path: 'sip_trunk_uri', kind: 'string' },
  { option: 'sip-domain', field: 'sipDomain', path: 'sip_domain', kind: 'string' },
]

const FIELD_OPTIONS = ['name', 'timezone', 'emergency', 'location', 'trunk', 'sip-domain'] as const

function showSite(context: CommandContext, site: Site | undefined, document: unknown): void {
  if (context.json) context.printJson(document)
  else if (site !== undefined) context.print(formatSite(site))
}

const create: CommandSpec = {
  path: ['site', 'create'],
  synopsis: '--id ID --name TEXT [--timezone TZ] [--emergency NUMBER...] [--location TEXT] [--trunk URI] [--sip-domain DOMAIN]',
  summary: 'create a site (a branch office)',
  details: 'Registry instances create their own site from sites/<id>.yaml when they start.',
  options: ['id', ...FIELD_OPTIONS],
  async run(context) {
    const { input } = context
    const id = input.required('id')
    input.required('name')
    const { values } = fieldsFromOptions(input, SITE_FIELDS)
    const client = context.client()
    const d = client.directory
    const response = await client.call(d.createSite.bind(d), { requestId: newRequestId(), site: Site.fromPartial({ ...values, id }) }, context.signal)
    showSite(context, response.site, CreateSiteResponse.toJSON(response))
  },
}

const update: CommandSpec = {
  path: ['site', 'update'],
  synopsis: '<id> [--name TEXT] [--timezone TZ] [--emergency NUMBER...] [--location TEXT] [--trunk URI] [--sip-domain DOMAIN]',
  summary: 'change the given fields of a site (only those)',
  details: '--emergency replaces the whole list of emergency numbers.',
  options: FIELD_OPTIONS,
  positionals: { min: 1, max: 1, names: '<id>' },
  async run(context) {
    const id = idArgument(context)
    const { values, paths } = fieldsFromOptions(context.input, SITE_FIELDS)
    if (paths.length === 0) throw new UsageError('site update: nothing to change (give at least one field option)', 'site update')
    const client = context.client()
    const d = client.directory
    const response = await client.call(
      d.updateSite.bind(d),
      { requestId: newRequestId(), site: Site.fromPartial({ ...values, id }), updateMask: paths },
      context.signal,
    )
    showSite(context, response.site, UpdateSiteResponse.toJSON(response))
  },
}

const remove: CommandSpec = {
  path: ['site', 'delete'],
  synopsis: '<id>',
  summary: 'delete a site that has no devices',
  options: [],
  positionals: { min: 1, max: 1, names: '<id>' },
  async run(context) {
    const id = idArgument(context)
    const client = context.client()
    const d = client.directory
    await client.call(d.deleteSite.bind(d), { requestId: newRequestId(), siteId: id }, context.signal)
    if (context.json) context.printJson({ deleted: { siteId: id } })
    else context.print(`deleted site ${id}\n`)
  },
}

const get: CommandSpec = {
  path: ['site', 'get'],
  synopsis: '<id>',
  summary: 'show a site',
  options: [],
  positionals: { min: 1, max: 1, names: '<id>' },
  async run(context) {
    const id = idArgument(context)
    const client = context.client()
    const d = client.directory
    const response = await client.call(d.getSite.bind(d), { siteId: id }, context.signal)
    showSite(context, response.site, GetSiteResponse.toJSON(response))
  },
}

const list: CommandSpec = {
  path: ['site', 'list'],
  synopsis: '',
  summary: 'list sites (every page)',
  options: [],
  async run(context) {
    const client = context.client()
    const d = client.directory
    const sites: Site[] = []
    let pageToken = ''
    do {
      const page = await client.call(d.listSites.bind(d), { pageSize: 1000, pageToken }, context.signal)
      sites.push(...page.sites)
      pageToken = page.nextPageToken
    } while (pageToken !== '')
    if (context.json) context.printJson({ sites: sites.map((s) => Site.toJSON(s)) })
    else context.print(formatSites(sites))
  },
}

/** The `site` commands. */
export const SITE_COMMANDS: readonly CommandSpec[] = [create, update, remove, get, list]
