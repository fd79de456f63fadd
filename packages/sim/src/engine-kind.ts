import { join } from 'node:path'
import { parseHostPort } from '@flexseat/config'
import { SimError } from './errors'
import type { SiteProcessKind } from './site-process-kind'

/**
 * The SIP engine of each site: the embedded drachtio-compatible engine
 * (`node packages/sip-engine/dist/main.js`), started with drachtio-server's own flags so that the
 * same line would start drachtio-server: `--contact` from the site's `sip.contact`, the control
 * socket from `sip.control`, the simulation's engine secret in `DRACHTIO_SECRET` (never on the
 * command line). Ready when it prints its JSON
 * `listening` line; the address is the control socket.
 */
export const engineKind: SiteProcessKind = {
  name: 'sip-engine',
  command(site, context) {
    const control = parseHostPort(site.sip.control)
    if (control === undefined) throw new SimError('BAD_SITE', `${site.id}: sip.control "${site.sip.control}" is not host:port`)
    return {
      command: process.execPath,
      args: [
        join(context.repoRoot, 'packages', 'sip-engine', 'dist', 'main.js'),
        '--contact',
        site.sip.contact,
        '--address',
        control.host,
        '--port',
        String(control.port),
        '--loglevel',
        'info',
      ],
      // In the environment, as drachtio-server reads it too: a command line is visible in `ps`.
      env: { DRACHTIO_SECRET: context.tokens.engineSecret },
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
