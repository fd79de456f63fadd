/**
 * Which SIP engine a test process runs: the embedded engine (packages/sip-engine) or a real
 * drachtio-server. Every test that starts a SIP engine runs on both: the file itself on the
 * embedded engine, and its twin in test/drachtio-server/ (a two-line file that calls
 * {@link runOnDrachtioServer}) on drachtio-server, as a separate tap file so tap runs the two
 * passes in parallel and each keeps its own time limit.
 *
 * `FLEXSEAT_TEST_ENGINE=drachtio-server npx tap test/integration/x.test.ts` runs one file on
 * drachtio-server by hand. The binary is `DRACHTIO_SERVER_BIN`, else `drachtio` on the PATH,
 * else `../shared/drachtio/drachtio` beside the repository (findDrachtioServer in @flexseat/sim).
 *
 * Nothing here reads the environment at import time: a twin sets the choice, then loads the file.
 */
import { join } from 'node:path'
import t from 'tap'
import { findDrachtioServer } from '@flexseat/sim'

export type EngineName = 'embedded' | 'drachtio-server'

/** The variable a twin (or a developer) sets to run a file's engines on drachtio-server. */
export const ENGINE_VARIABLE = 'FLEXSEAT_TEST_ENGINE'

const REPO = join(__dirname, '..', '..')

/** The engine of this test process: `FLEXSEAT_TEST_ENGINE` (default `embedded`). */
export function engineUnderTest(): EngineName {
  const value = process.env[ENGINE_VARIABLE]
  if (value === undefined || value === '' || value === 'embedded') return 'embedded'
  if (value === 'drachtio-server') return 'drachtio-server'
  throw new Error(`${ENGINE_VARIABLE}=${value}: expected embedded or drachtio-server`)
}

/** Whether this test process runs its engines on drachtio-server. */
export function onRealDrachtio(): boolean {
  return engineUnderTest() === 'drachtio-server'
}

/** The drachtio-server binary, or undefined when this machine has none. */
export function drachtioServerBin(): string | undefined {
  return findDrachtioServer(REPO)
}

/** The binary this process must start drachtio-server from; throws when there is none. */
export function requireDrachtioServerBin(): string {
  const bin = drachtioServerBin()
  if (bin === undefined) throw new Error(`${ENGINE_VARIABLE}=drachtio-server but no drachtio-server binary was found (set DRACHTIO_SERVER_BIN)`)
  return bin
}

/**
 * drachtio-server's command line for a test: the same flags the embedded engine takes.
 * `--loglevel info` makes it print every SIP message it sends and receives (kept for failure
 * messages); the SIP stack's own (sofia) logging stays at its configured minimum.
 */
export function drachtioServerArgs(opts: { sipPort: number; controlPort: number; secret: string; loglevel?: string }): string[] {
  return ['--contact', `sip:127.0.0.1:${opts.sipPort};transport=udp,tcp`, '--address', '127.0.0.1', '--port', String(opts.controlPort), '--secret', opts.secret, '--loglevel', opts.loglevel ?? 'info']
}

/**
 * The line drachtio-server logs once its SIP stack runs. It opens its control socket first, so
 * an application may connect before the SIP ports are bound: wait for this line, not the port.
 * A drachtio-server that cannot bind its SIP port exits (code 0) without logging it.
 */
export const DRACHTIO_READY_LINE = 'Starting sofia event loop'

/**
 * The body of a twin file: runs the test file `load` requires on drachtio-server in this
 * process, or, where this machine has no drachtio-server, skips it with a message that says so.
 *
 * ```ts
 * import { runOnDrachtioServer } from '../helpers/engines'
 * runOnDrachtioServer('branch-calls', () => require('../integration/branch-calls.test'))
 * ```
 */
export function runOnDrachtioServer(name: string, load: () => unknown): void {
  if (drachtioServerBin() === undefined) {
    t.plan(0, `no drachtio-server on this machine (DRACHTIO_SERVER_BIN, drachtio on the PATH, ../shared/drachtio/drachtio): ${name} ran on the embedded engine only`)
    return
  }
  process.env[ENGINE_VARIABLE] = 'drachtio-server'
  t.comment(`${name} on drachtio-server (${drachtioServerBin()})`)
  load()
}
