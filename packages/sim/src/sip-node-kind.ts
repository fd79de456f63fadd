import { join } from 'node:path'
import { metricsListen, type SiteProcessKind } from './site-process-kind'

/**
 * The SIP node of each site (`node packages/sip-node/dist/main.js --site <id> --sites-dir <dir>`):
 * the drachtio-srf application that registers the branch's phones. It connects to its site's
 * engine (`sip.control`, the simulation's engine secret) and to the registries — its own site's
 * first, the others after it, so a branch whose registry stops fails over rather than going
 * dark. Ready when it logs `sip node ready`.
 */
export const sipNodeKind: SiteProcessKind = {
  name: 'sip-node',
  command(site, context) {
    const registries = context.addresses.get('registry') ?? new Map<string, string>()
    const own = registries.get(site.id)
    const ordered = [...(own === undefined ? [] : [own]), ...[...registries].filter(([id]) => id !== site.id).map(([, address]) => address)]
    return {
      command: process.execPath,
      args: [join(context.repoRoot, 'packages', 'sip-node', 'dist', 'main.js'), '--site', site.id, '--sites-dir', context.sitesDir],
      env: {
        FLEXSEAT_METRICS_LISTEN: metricsListen(site),
        FLEXSEAT_REGISTRY_ADDRESSES: ordered.join(','),
        // Its own site's token: a node acts for its own branch only.
        FLEXSEAT_SIP_NODE_TOKEN_FILE: context.tokens.sipNodeTokenFile(site.id),
        FLEXSEAT_TRUNK_SECRET_FILE: context.tokens.trunkSecretFile,
        FLEXSEAT_DRACHTIO_SECRET_FILE: context.tokens.engineSecretFile,
        // Who ran before: a node the launcher restarts after a crash takes its lease over at once.
        FLEXSEAT_SIP_NODE_STATE_DIR: join(context.stateDir, 'sip-node', site.id),
        FLEXSEAT_DRACHTIO_SECRET: undefined,
        // The site file decides; a value in the user's shell would point every node at one engine.
        FLEXSEAT_DRACHTIO_ADDRESS: undefined,
        FLEXSEAT_SIP_NODE_TOKEN: undefined,
        FLEXSEAT_TRUNK_SECRET: undefined,
        FLEXSEAT_REGISTRY_CA_FILE: undefined,
        FLEXSEAT_REGISTRY_CERT_FILE: undefined,
        FLEXSEAT_REGISTRY_KEY_FILE: undefined,
      },
    }
  },
  readyAddress({ record }) {
    // The node serves at its site's SIP contact (the engine's); the map prints that from the site file.
    return record?.msg === 'sip node ready' ? 'ready' : undefined
  },
  startTimeoutMs: 30_000,
  stopGraceMs: 5_000,
}
