import { join } from 'node:path'
import { SimError } from './errors'
import type { SiteProcessKind } from './site-process-kind'

/**
 * The web portal of each site (`node packages/portal/dist/main.js --site <id> --sites-dir <dir>`):
 * workers take a desk for some hours there, administrators watch the live map. It listens where
 * the site's `portal.listen` says and talks to the registries (its own site's first) with the
 * simulation's portal token, which alone may only open sessions. Ready when it logs `portal
 * listening` with its URL, which the map shows.
 */
export const portalKind: SiteProcessKind = {
  name: 'portal',
  command(site, context) {
    if (site.portal === undefined) throw new SimError('BAD_SITE', `${site.id}: no portal section (portal.listen) in its site file`)
    const registries = context.addresses.get('registry') ?? new Map<string, string>()
    const own = registries.get(site.id)
    const ordered = [...(own === undefined ? [] : [own]), ...[...registries].filter(([id]) => id !== site.id).map(([, address]) => address)]
    return {
      command: process.execPath,
      args: [join(context.repoRoot, 'packages', 'portal', 'dist', 'main.js'), '--site', site.id, '--sites-dir', context.sitesDir],
      env: {
        FLEXSEAT_REGISTRY_ADDRESSES: ordered.join(','),
        FLEXSEAT_PORTAL_TOKEN_FILE: context.tokens.portalTokenFile,
        // A restart keeps the open pages' CSRF secrets valid.
        FLEXSEAT_PORTAL_COOKIE_SECRET_FILE: context.tokens.portalCookieSecretFile,
        // The site file decides; values in the user's shell would make the sites collide.
        FLEXSEAT_PORTAL_TOKEN: undefined,
        FLEXSEAT_PORTAL_LISTEN: undefined,
        FLEXSEAT_PORTAL_URL: undefined,
        FLEXSEAT_PORTAL_TLS_CERT: undefined,
        FLEXSEAT_PORTAL_TLS_KEY: undefined,
        FLEXSEAT_REGISTRY_CA_FILE: undefined,
      },
    }
  },
  readyAddress({ record }) {
    return record?.msg === 'portal listening' && typeof record.url === 'string' ? record.url : undefined
  },
  startTimeoutMs: 30_000,
  stopGraceMs: 5_000,
}
