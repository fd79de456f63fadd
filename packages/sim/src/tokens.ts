import { createHash, randomBytes } from 'node:crypto'
import { chmod, mkdir, readFile, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { stringify } from 'yaml'

/** The tokens of a local simulation, in clear (they never leave the state folder otherwise). */
export interface SimTokens {
  /** Path of the tokens file the registries read (`FLEXSEAT_TOKENS_FILE`): only SHA-256 hashes. */
  file: string
  /** Role admin: for the CLI (`.state/admin-token`). */
  admin: string
  /** Role registry: what instances present when forwarding to the leader (`FLEXSEAT_CLUSTER_TOKEN`). */
  cluster: string
  /**
   * Role sip-node, one per site: what each branch's SIP node presents to the registries
   * (`.state/sip-node-<site>-token`); each acts for its own site only.
   */
  sipNode: Readonly<Record<string, string>>
  /** The file holding `sipNode[site]` (`FLEXSEAT_SIP_NODE_TOKEN_FILE` of that site's node). */
  sipNodeTokenFile(site: string): string
  /**
   * Role provisioning, one per site: what each branch's provisioning service presents to the
   * registries (`.state/provisioning-<site>-token`); each reads its own site's phones only.
   */
  provisioning: Readonly<Record<string, string>>
  /** The file holding `provisioning[site]` (`FLEXSEAT_PROVISIONING_TOKEN_FILE` of that site's service). */
  provisioningTokenFile(site: string): string
  /**
   * Role portal: what the sites' web portals present (`.state/portal-token`,
   * `FLEXSEAT_PORTAL_TOKEN_FILE`); alone it may only open sessions, so one serves every branch.
   */
  portal: string
  portalTokenFile: string
  /** The secret the portals sign their CSRF cookie with (`FLEXSEAT_PORTAL_COOKIE_SECRET_FILE`). */
  portalCookieSecretFile: string
  /** File with the shared secret of the inter-site SIP trunk between the SIP nodes. */
  trunkSecretFile: string
  /**
   * The control secret of the sites' SIP engines, and the file holding it: the engines get it in
   * their environment (`DRACHTIO_SECRET`, as drachtio-server reads it), the nodes by file, so it
   * never shows on a command line.
   */
  engineSecret: string
  engineSecretFile: string
}

/** File names inside the state folder; each clear token is in a file of its own, mode 0600. */
const FILES = { tokens: 'tokens.yaml', admin: 'admin-token', cluster: 'cluster-token' } as const
/** One SIP node token per site. */
const sipNodeFile = (site: string): string => `sip-node-${site}-token`
/** The single SIP node token of state folders from before per-site tokens: no longer accepted. */
const SHARED_SIP_NODE_FILE = 'sip-node-token'
/** One provisioning service token per site. */
const provisioningFile = (site: string): string => `provisioning-${site}-token`
/** The single provisioning token of state folders from before per-site ones: no longer accepted. */
const SHARED_PROVISIONING_FILE = 'provisioning-token'

/** The SHA-256 (hex) of a token, as the tokens file stores it. */
export function tokenHash(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex')
}

/**
 * Returns the simulation's tokens, generating what is missing: 32 random bytes each (base64url),
 * clear tokens in `<stateDir>/{admin,cluster}-token`, `<stateDir>/sip-node-<site>-token` and
 * `<stateDir>/provisioning-<site>-token` for each of `siteIds` (0600), their hashes in
 * `<stateDir>/tokens.yaml` (rewritten every time, so a site added since the last run gets its
 * tokens). Existing tokens are reused so that a restarted
 * simulation keeps the CLI token the user already has.
 */
export async function ensureTokens(stateDir: string, siteIds: readonly string[]): Promise<SimTokens> {
  await mkdir(stateDir, { recursive: true, mode: 0o700 })
  const file = join(stateDir, FILES.tokens)
  // The SIP secrets came after the tokens: a state folder from before gains them on its own.
  const engineSecretFile = join(stateDir, SECRET_FILES.engine)
  const secrets = { trunkSecretFile: join(stateDir, SECRET_FILES.trunk), engineSecret: await ensureSecret(engineSecretFile), engineSecretFile }
  await ensureSecret(secrets.trunkSecretFile)
  const admin = await ensureSecret(join(stateDir, FILES.admin))
  const cluster = await ensureSecret(join(stateDir, FILES.cluster))
  const sipNode: Record<string, string> = {}
  for (const site of siteIds) sipNode[site] = await ensureSecret(join(stateDir, sipNodeFile(site)))
  // A token for every branch at once is what per-site tokens replace: never hand it out again.
  await rm(join(stateDir, SHARED_SIP_NODE_FILE), { force: true })
  // Likewise for the provisioning services: one token per branch, naming it.
  const provisioning: Record<string, string> = {}
  for (const site of siteIds) provisioning[site] = await ensureSecret(join(stateDir, provisioningFile(site)))
  await rm(join(stateDir, SHARED_PROVISIONING_FILE), { force: true })
  // The portals': one token (it only opens sessions), and the secret of their CSRF cookie.
  const portalTokenFile = join(stateDir, SECRET_FILES.portal)
  const portal = await ensureSecret(portalTokenFile)
  const portalCookieSecretFile = join(stateDir, SECRET_FILES.portalCookie)
  await ensureSecret(portalCookieSecretFile)
  const document = {
    tokens: [
      { name: 'sim-admin', role: 'admin', sha256: tokenHash(admin) },
      { name: 'sim-registry', role: 'registry', sha256: tokenHash(cluster) },
      ...siteIds.map((site) => ({ name: `sim-sip-node-${site}`, role: 'sip-node', site, sha256: tokenHash(sipNode[site]!) })),
      ...siteIds.map((site) => ({ name: `sim-provisioning-${site}`, role: 'provisioning', site, sha256: tokenHash(provisioning[site]!) })),
      { name: 'sim-portal', role: 'portal', sha256: tokenHash(portal) },
    ],
  }
  const header =
    '# Generated by flexseat-sim (npm start) at every start. Each token is stored only as its SHA-256\n' +
    '# (hex); the clear tokens are in the *-token files beside this one. Delete .state/ (or --reset) for new ones.\n'
  await writeFile(file, header + stringify(document), { mode: 0o600 })
  await chmod(file, 0o600)
  return { file, admin, cluster, sipNode, sipNodeTokenFile: (site) => join(stateDir, sipNodeFile(site)), provisioning, provisioningTokenFile: (site) => join(stateDir, provisioningFile(site)), portal, portalTokenFile, portalCookieSecretFile, ...secrets }
}

/** Secrets outside tokens.yaml's per-site tokens: the SIP trunk's, the SIP engines' control secret, the portals' token and cookie secret. */
const SECRET_FILES = { trunk: 'trunk-secret', engine: 'engine-secret', portal: 'portal-token', portalCookie: 'portal-cookie-secret' } as const

/** The secret in `path`, created (32 random bytes, base64url, mode 0600) when absent. */
async function ensureSecret(path: string): Promise<string> {
  try {
    const existing = (await readFile(path, 'utf8')).trim()
    if (existing !== '') return existing
  } catch {
    // Absent: create it below.
  }
  const secret = newToken()
  await writeFile(path, `${secret}\n`, { mode: 0o600 })
  await chmod(path, 0o600)
  return secret
}

function newToken(): string {
  return randomBytes(32).toString('base64url')
}
