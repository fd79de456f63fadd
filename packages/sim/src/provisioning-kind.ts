import { join } from 'node:path'
import { SimError } from './errors'
import type { SiteProcessKind } from './site-process-kind'

/**
 * The provisioning service of each site (`node packages/provisioning/dist/main.js --site <id>
 * --sites-dir <dir>`): desk phones fetch their files there by MAC, and the softkey sign-in runs
 * there. It listens where the site's `provisioning.listen` says and talks to the registries (its
 * own site's first) with its site's provisioning token. Ready when it logs `provisioning
 * listening` with its base URL, which the map shows.
 */
export const provisioningKind: SiteProcessKind = {
  name: 'provisioning',
  command(site, context) {
    if (site.provisioning === undefined) throw new SimError('BAD_SITE', `${site.id}: no provisioning section (provisioning.listen) in its site file`)
    const registries = context.addresses.get('registry') ?? new Map<string, string>()
    const own = registries.get(site.id)
    const ordered = [...(own === undefined ? [] : [own]), ...[...registries].filter(([id]) => id !== site.id).map(([, address]) => address)]
    return {
      command: process.execPath,
      args: [join(context.repoRoot, 'packages', 'provisioning', 'dist', 'main.js'), '--site', site.id, '--sites-dir', context.sitesDir],
      env: {
        FLEXSEAT_REGISTRY_ADDRESSES: ordered.join(','),
        // Its own site's token: a provisioning service reads its own branch's phones only.
        FLEXSEAT_PROVISIONING_TOKEN_FILE: context.tokens.provisioningTokenFile(site.id),
        // The site file decides; values in the user's shell would make the sites collide.
        FLEXSEAT_PROVISIONING_TOKEN: undefined,
        FLEXSEAT_PROVISIONING_LISTEN: undefined,
        FLEXSEAT_PROVISIONING_TLS_CERT: undefined,
        FLEXSEAT_PROVISIONING_TLS_KEY: undefined,
        FLEXSEAT_REGISTRY_CA_FILE: undefined,
      },
    }
  },
  readyAddress({ record }) {
    return record?.msg === 'provisioning listening' && typeof record.url === 'string' ? record.url : undefined
  },
  startTimeoutMs: 30_000,
  stopGraceMs: 5_000,
}
