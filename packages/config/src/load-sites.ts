import { readdir, readFile } from 'node:fs/promises'
import { basename, join } from 'node:path'
import { parseDocument } from 'yaml'
import { ConfigError } from './errors'
import type { SiteConfig } from './site-config'
import { validateSite } from './validate-site'

/**
 * Reads and validates one site file.
 * @throws ConfigError naming `file` and the field at fault
 */
export async function loadSite(file: string): Promise<SiteConfig> {
  let text: string
  try {
    text = await readFile(file, 'utf8')
  } catch (error) {
    throw new ConfigError('CONFIG_UNREADABLE', file, undefined, `cannot read the file (${(error as NodeJS.ErrnoException).code ?? 'error'})`, { cause: error })
  }
  const document = parseDocument(text, { prettyErrors: true, uniqueKeys: true })
  const [first] = document.errors
  if (first) {
    const where = first.linePos?.[0] ? ` at line ${first.linePos[0].line}, column ${first.linePos[0].col}` : ''
    throw new ConfigError('CONFIG_UNREADABLE', file, undefined, `not valid YAML${where}: ${first.message.split('\n')[0]}`, { cause: first })
  }
  return validateSite(document.toJS(), file)
}

/**
 * Reads every `*.yaml` file in `dir` (one site each, named `<id>.yaml`), validates each and the
 * set as a whole (unique ids and etcd member names), and returns the sites sorted by id.
 * @throws ConfigError naming the file and field at fault; `dir` itself when it holds no site
 */
export async function loadSites(dir: string): Promise<SiteConfig[]> {
  let names: string[]
  try {
    names = (await readdir(dir)).filter((name) => name.endsWith('.yaml')).sort()
  } catch (error) {
    throw new ConfigError('CONFIG_UNREADABLE', dir, undefined, `cannot read the sites folder (${(error as NodeJS.ErrnoException).code ?? 'error'})`, { cause: error })
  }
  if (names.length === 0) throw new ConfigError('CONFIG_INVALID', dir, undefined, 'holds no site files (*.yaml)')

  const loaded: { file: string; site: SiteConfig }[] = []
  for (const name of names) {
    const file = join(dir, name)
    const site = await loadSite(file)
    // The file name is how operators (and `--site <id>`) find a site: keep the two in step.
    if (basename(name, '.yaml') !== site.id) throw new ConfigError('CONFIG_INVALID', file, 'id', `"${site.id}" must equal the file name (${name} holds site "${basename(name, '.yaml')}")`)
    loaded.push({ file, site })
  }
  const etcdNames = new Map<string, string>()
  for (const { file, site } of loaded) {
    const other = etcdNames.get(site.etcd.name)
    if (other !== undefined) throw new ConfigError('CONFIG_CONFLICT', file, 'etcd.name', `"${site.etcd.name}" is already the etcd member of ${other}`)
    etcdNames.set(site.etcd.name, file)
  }
  // Ids are unique by construction (one file per id); sorting by id is sorting by file name.
  return loaded.map(({ site }) => site).sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
}
