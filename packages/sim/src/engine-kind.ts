import { join } from 'node:path'
import { parseHostPort, SCANNER_USER_AGENTS, type SiteConfig } from '@flexseat/config'
import type { EngineChoice } from './engine-choice'
import { SimError } from './errors'
import { metricsListen, type SiteProcessKind } from './site-process-kind'

/**
 * The engine's command-line flags, the same for both engines (drachtio-server's own). The secret
 * is not among them: both engines read `DRACHTIO_SECRET` from the environment, out of `ps`.
 */
function engineArgs(site: SiteConfig, loglevel: string): string[] {
  const control = parseHostPort(site.sip.control)
  if (control === undefined) throw new SimError('BAD_SITE', `${site.id}: sip.control "${site.sip.control}" is not host:port`)
  return ['--contact', site.sip.contact, '--address', control.host, '--port', String(control.port), '--loglevel', loglevel]
}

/**
 * The embedded engine's flags dropping scanners (`--drop-user-agent`, one per substring) when the
 * site's `sip_security.drop_scanners` is on (the default). drachtio-server has no such flag (its
 * `<spammers>` section answers 603 instead of dropping: docs/ENGINES.md).
 */
export function dropScannerArgs(site: Pick<SiteConfig, 'sipSecurity'>): string[] {
  return (site.sipSecurity?.dropScanners ?? true) ? SCANNER_USER_AGENTS.flatMap((agent) => ['--drop-user-agent', agent]) : []
}

/**
 * The V8 flags the embedded engine's Node.js process runs with, wherever it is started (this
 * simulation, the test harnesses, bench/sip-engine.ts; its `flexseat-sip-engine` bin carries the
 * same in its `#!` line). A young generation of 1 MiB semi-spaces (Node's default: 16 MiB, so
 * 32 MiB resident once traffic has grown it): at 12,000 REGISTER/s offered the engine's RSS
 * measured 90–95 MiB (peaks 104–118), 120–160 MiB with Node's defaults, at no measurable cost in
 * REGISTER rate. `--optimize-for-size` saves some 20 MiB more but cost a third to two thirds of
 * the rate (docs/PERFORMANCE.md, "SIP engine").
 */
export const EMBEDDED_ENGINE_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=1']

/**
 * The SIP engine of each site: the embedded drachtio-compatible engine
 * (`node` with {@link EMBEDDED_ENGINE_NODE_FLAGS} `packages/sip-engine/dist/main.js`), started with drachtio-server's own flags so that the
 * same line would start drachtio-server: `--contact` from the site's `sip.contact`, the control
 * socket from `sip.control`, the simulation's engine secret in `DRACHTIO_SECRET` (never on the
 * command line). Ready when it prints its JSON
 * `listening` line; the address is the control socket.
 */
export const engineKind: SiteProcessKind = {
  name: 'sip-engine',
  command(site, context) {
    return {
      command: process.execPath,
      args: [...EMBEDDED_ENGINE_NODE_FLAGS, join(context.repoRoot, 'packages', 'sip-engine', 'dist', 'main.js'), ...engineArgs(site, 'info'), ...dropScannerArgs(site)],
      // In the environment, as drachtio-server reads it too: a command line is visible in `ps`.
      env: { DRACHTIO_SECRET: context.tokens.engineSecret, FLEXSEAT_METRICS_LISTEN: metricsListen(site) },
    }
  },
  readyAddress({ record }) {
    if (record?.event !== 'listening') return undefined
    const control = record.control as { address?: unknown; port?: unknown } | undefined
    return typeof control?.address === 'string' && typeof control.port === 'number' ? `${control.address}:${control.port}` : undefined
  },
  startTimeoutMs: 15_000,
  stopGraceMs: 5_000,
}

/**
 * drachtio-server as each site's SIP engine (`npm start -- --engine drachtio-server`): the binary
 * with the same flags as {@link engineKind}, at log level `notice` (`info` would print every SIP
 * message). It opens its control socket before its SIP stack, so it is ready only when it logs
 * that the SIP stack's event loop runs; one that cannot bind its SIP port exits instead.
 */
export function drachtioServerKind(bin: string): SiteProcessKind {
  return {
    name: 'sip-engine',
    command(site, context) {
      return { command: bin, args: engineArgs(site, 'notice'), env: { DRACHTIO_SECRET: context.tokens.engineSecret } }
    },
    readyAddress({ text }, site) {
      return text.includes('Starting sofia event loop') && site !== undefined ? site.sip.control : undefined
    },
    startTimeoutMs: 15_000,
    stopGraceMs: 5_000,
  }
}

/** The engine kind of a choice. */
export function engineKindOf(choice: EngineChoice): SiteProcessKind {
  return choice.name === 'drachtio-server' ? drachtioServerKind(choice.bin) : engineKind
}
