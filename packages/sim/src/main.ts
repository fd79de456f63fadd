#!/usr/bin/env node
/**
 * `flexseat-sim` (what `npm start` runs): every site of the sites folder on this machine — a
 * three-member etcd cluster from the sites' `etcd` sections, then each site's registry — with
 * their logs prefixed by site, a map once everything is ready, and an orderly stop on Ctrl-C.
 *
 * Flags: `--sites-dir <dir>` (default `<repo>/sites`), `--state-dir <dir>` (default
 * `<repo>/.state`), `--reset` (delete the state folder first: a new etcd cluster and new tokens).
 * Without `--reset` a second start resumes on the same etcd data and tokens.
 * Exit codes: 0 after Ctrl-C/SIGTERM, 1 when something failed or a child died, 2 on bad flags
 * or site files.
 */
import { rm } from 'node:fs/promises'
import { resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { ConfigError, loadSites } from '@flexseat/config'
import { fetchClusterStatus } from './cluster-status'
import { formatClusterMap } from './cluster-map'
import { describeExit, Launcher, type UnexpectedExit } from './launcher'
import { formatLogLine, type LogLine } from './log-line'
import { ensureTokens } from './tokens'

const USAGE = `usage: flexseat-sim [--sites-dir <dir>] [--state-dir <dir>] [--reset]
  --sites-dir <dir>  the sites to run (default: sites/ of the repository)
  --state-dir <dir>  etcd data and generated tokens (default: .state/ of the repository)
  --reset            delete the state folder first (new cluster, new tokens)
Without --reset, a start resumes on the etcd data and tokens of the previous run.
`

const COLOURS = [36, 35, 33, 32, 34, 31]

/**
 * Lines not worth a reader's attention: etcd logs peer connection churn at warn level, and the
 * tether's shell reports a child ended by a signal ("Terminated") which the launcher reports itself.
 */
const NOISE = /^(Terminated|Killed)$|TCP streaming connection|peer became inactive|prober detected|failed to find remote peer|simple token is not cryptographically signed|addrConn\.createTransport/

function isNoise(line: LogLine): boolean {
  const message = line.record && typeof line.record.msg === 'string' ? line.record.msg : line.text
  return NOISE.test(message.trim())
}

async function main(): Promise<number> {
  let values: { 'sites-dir'?: string; 'state-dir'?: string; reset?: boolean; help?: boolean }
  try {
    values = parseArgs({
      options: { 'sites-dir': { type: 'string' }, 'state-dir': { type: 'string' }, reset: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } },
      strict: true,
    }).values
  } catch (error) {
    process.stderr.write(`${(error as Error).message}\n${USAGE}`)
    return 2
  }
  if (values.help) {
    process.stdout.write(USAGE)
    return 0
  }
  // dist/main.js → packages/sim/dist → the repository root.
  const repoRoot = resolve(__dirname, '..', '..', '..')
  const sitesDir = resolve(values['sites-dir'] ?? resolve(repoRoot, 'sites'))
  const stateDir = resolve(values['state-dir'] ?? resolve(repoRoot, '.state'))

  let sites
  try {
    sites = await loadSites(sitesDir)
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`flexseat-sim: ${error.message}\n`)
      return 2
    }
    throw error
  }

  const width = Math.max(...sites.map((site) => `${site.id} registry`.length), 'sim'.length)
  const colourOf = new Map(sites.map((site, i) => [site.id, COLOURS[i % COLOURS.length] as number]))
  const tty = process.stdout.isTTY === true
  const say = (source: string, text: string): void => {
    const prefix = source.padEnd(width)
    const colour = colourOf.get(source.split(' ')[0] ?? '')
    process.stdout.write(`${tty && colour !== undefined ? `\x1b[${colour}m${prefix}\x1b[0m` : prefix} │ ${text}\n`)
  }
  const sim = (text: string): void => say('sim', text)

  if (values.reset) {
    sim(`--reset: deleting ${stateDir}`)
    await rm(stateDir, { recursive: true, force: true })
  }
  const tokens = await ensureTokens(stateDir)

  // Children are tethered and unref'd: nothing else holds the event loop open while we wait for
  // them (node would exit mid-stop, and the tether would SIGKILL etcd). Held until `finished`.
  const keepAlive = setInterval(() => {}, 60_000)
  const abort = new AbortController()
  let exitCode: number | undefined
  let done: (code: number) => void = () => {}
  const finished = new Promise<number>((resolve) => {
    done = resolve
  })
  sim(`sites ${sites.map((site) => site.id).join(', ')} from ${sitesDir}; state in ${stateDir}`)
  sim(`starting etcd (${sites.map((site) => site.etcd.name).join(', ')})`)
  const starting = Launcher.start({
    sites,
    sitesDir,
    stateDir,
    repoRoot,
    tokens,
    env: process.env,
    signal: abort.signal,
    onLine: (source: string, line: LogLine) => {
      // etcd's complaints about its peers going away are expected while we stop it.
      if (exitCode !== undefined && source.endsWith(' etcd')) return
      if (isNoise(line)) return
      say(source, formatLogLine(line))
    },
  })

  const shutdown = async (code: number): Promise<void> => {
    if (exitCode !== undefined) return
    exitCode = code
    sim('stopping: registries first, then etcd')
    // During the start, aborting makes Launcher.start stop what it began before it rejects.
    abort.abort()
    const started = await starting.catch(() => undefined)
    await started?.stop()
    sim('stopped')
    clearInterval(keepAlive)
    done(code)
  }
  let signals = 0
  const onSignal = (signal: NodeJS.Signals): void => {
    signals += 1
    // `npm start` may deliver one Ctrl-C twice (npm forwards it, the terminal sends it too).
    if (signals >= 3) {
      sim(`${signal} again: exiting at once (children die with this process)`)
      process.exit(1)
    }
    if (signals === 1) sim(`${signal} received`)
    void shutdown(0)
  }
  process.on('SIGINT', onSignal)
  process.on('SIGTERM', onSignal)

  let launcher: Launcher
  try {
    launcher = await starting
  } catch (error) {
    if (exitCode !== undefined) return finished
    sim(`could not start: ${error instanceof Error ? error.message : String(error)}`)
    return 1
  }
  if (exitCode !== undefined) return finished
  launcher.on('unexpected-exit', ({ source, pid, exit }: UnexpectedExit) => {
    sim(`${source} (pid ${pid}) ended unexpectedly: ${describeExit(exit)}; stopping the rest`)
    void shutdown(1)
  })

  const registries = launcher.addresses('registry')
  const status = await fetchClusterStatus([...registries.values()][0] ?? '', tokens.admin).catch(() => undefined)
  if (exitCode !== undefined) return finished
  for (const line of formatClusterMap({ sites, registries, status, stateDir, cwd: process.cwd() })) process.stdout.write(`${line}\n`)
  sim('ready')
  return finished
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`flexseat-sim failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`)
    process.exit(1)
  },
)
