#!/usr/bin/env node
/**
 * `flexseat-sim` (what `npm start` runs): every site of the sites folder on this machine — a
 * three-member etcd cluster from the sites' `etcd` sections, then each site's registry, SIP
 * engine and SIP node, and the simulation's phones and workers (demo-directory.ts) — with a map
 * once everything is ready, and an orderly stop on Ctrl-C.
 *
 * Each process logs to a file of its own, `<state>/logs/<site>-<kind>.log` (process-logs.ts;
 * `npx flexseat logs` shows one); the terminal shows the start, the map, then one line per event
 * that matters (event-lines.ts) and the processes that died and came back. `--verbose` shows
 * every line of every process as well, prefixed by its source.
 *
 * Flags: `--sites-dir <dir>` (default `<repo>/sites`), `--state-dir <dir>` (default
 * `<repo>/.state`), `--reset` (delete the state folder first: a new etcd cluster and new tokens).
 * Without `--reset` a second start resumes on the same etcd data and tokens.
 * `--engine drachtio-server` runs every site's SIP engine on drachtio-server instead of the
 * embedded engine (engine-choice.ts says where the binary is looked for).
 * Multi-host mode (netns-mode.ts): `--netns` runs each site in a network namespace of its own,
 * `--wan-delay <ms>` (and jitter, loss) shapes the traffic between them; `flexseat-sim cut|heal
 * <site>` cuts a running site off and plugs it back in, `flexseat-sim clean` removes leftovers.
 * A process that dies while running (a crash, a kill) is started again by the launcher, after a
 * backoff (1 s, doubling up to 30 s); only Ctrl-C/SIGTERM stops the simulation.
 * Exit codes: 0 after Ctrl-C/SIGTERM, 1 when the start failed, 2 on bad flags or site files.
 */
import { rm } from 'node:fs/promises'
import { resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { ConfigError, loadSites, type SiteConfig } from '@flexseat/config'
import { fetchClusterStatus } from './cluster-status'
import { formatClusterMap } from './cluster-map'
import { readDemoDirectory } from './demo-directory'
import { SimError } from './errors'
import { chooseEngine, type EngineChoice } from './engine-choice'
import { describeExit, Launcher, type RestartFailed, type Restarted, type Restarting } from './launcher'
import { eventLineOf } from './event-lines'
import { formatLogLine, type LogLine } from './log-line'
import { NETNS_COMMANDS, NETNS_FLAGS, NETNS_USAGE, type NetnsFlagValues, type NetnsSetup, runNetnsCommand, setUpNetns, wanOptionsOf } from './netns-mode'
import { logsDir as logsDirOf, ProcessLogs } from './process-logs'
import { siteProcessKinds } from './site-process-kinds'
import { ensureTokens } from './tokens'

const USAGE = `usage: flexseat-sim [--sites-dir <dir>] [--state-dir <dir>] [--reset] [--engine <engine>] [--netns [--wan-delay <ms>] ...]
       flexseat-sim cut <site> | heal <site> | clean
  --sites-dir <dir>  the sites to run (default: sites/ of the repository)
  --state-dir <dir>  etcd data and generated tokens (default: .state/ of the repository)
  --reset            delete the state folder first (new cluster, new tokens)
  --verbose          every process's log lines in the terminal (else: in <state>/logs/, and
                     the terminal shows one line per event that matters)
  --engine <engine>  each site's SIP engine: embedded (default) or drachtio-server
                     (DRACHTIO_SERVER_BIN, else drachtio on the PATH, else ../shared/drachtio/drachtio)
Without --reset, a start resumes on the etcd data and tokens of the previous run.
${NETNS_USAGE}`

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
  let values: { 'sites-dir'?: string; 'state-dir'?: string; reset?: boolean; verbose?: boolean; engine?: string; help?: boolean } & NetnsFlagValues
  let positionals: string[]
  try {
    ;({ values, positionals } = parseArgs({
      options: { 'sites-dir': { type: 'string' }, 'state-dir': { type: 'string' }, reset: { type: 'boolean' }, verbose: { type: 'boolean' }, engine: { type: 'string' }, help: { type: 'boolean', short: 'h' }, ...NETNS_FLAGS },
      strict: true,
      allowPositionals: true,
    }))
    if (positionals.length > 0 && !(NETNS_COMMANDS as readonly string[]).includes(positionals[0] as string)) throw new Error(`unknown command "${positionals[0]}"`)
  } catch (error) {
    process.stderr.write(`${(error as Error).message}\n${USAGE}`)
    return 2
  }
  if (values.help) {
    process.stdout.write(USAGE)
    return 0
  }
  if (positionals.length > 0) {
    return runNetnsCommand(positionals, { out: (line) => process.stdout.write(`${line}\n`), err: (line) => process.stderr.write(`${line}\n`) })
  }
  // dist/main.js → packages/sim/dist → the repository root.
  const repoRoot = resolve(__dirname, '..', '..', '..')
  let wanOptions
  let engine: EngineChoice
  try {
    wanOptions = wanOptionsOf(values)
    engine = chooseEngine(values.engine, repoRoot)
  } catch (error) {
    process.stderr.write(`flexseat-sim: ${(error as Error).message}\n`)
    return 2
  }
  let sitesDir = resolve(values['sites-dir'] ?? resolve(repoRoot, 'sites'))
  let stateDir = resolve(values['state-dir'] ?? resolve(repoRoot, '.state'))

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
  let logs: ProcessLogs | undefined
  const say = (source: string, text: string): void => {
    const prefix = source.padEnd(width)
    const colour = colourOf.get(source.split(' ')[0] ?? '')
    process.stdout.write(`${tty && colour !== undefined ? `\x1b[${colour}m${prefix}\x1b[0m` : prefix} │ ${text}\n`)
    logs?.write('sim', `${new Date().toISOString()} ${prefix} │ ${text}`)
  }
  const sim = (text: string): void => say('sim', text)

  if (values.reset) {
    sim(`--reset: deleting ${stateDir}`)
    await rm(stateDir, { recursive: true, force: true })
  }
  let netns: NetnsSetup | undefined
  if (wanOptions !== undefined) {
    sim('--netns: creating a network namespace per site on a bridge')
    try {
      netns = await setUpNetns(sites, sitesDir, stateDir, wanOptions)
    } catch (error) {
      sim(`could not set up the multi-host mode: ${error instanceof Error ? error.message : String(error)}`)
      return error instanceof SimError && (error.code === 'BAD_OPTION' || error.code === 'BAD_SITE') ? 2 : 1
    }
    ;({ sites, sitesDir, stateDir } = netns)
    for (const site of netns.wan.plan.sites) sim(`${site.siteId}: namespace ${site.namespace}, address ${site.address}`)
  }
  const removeNetwork = async (): Promise<void> => {
    if (netns === undefined) return
    await netns.wan.teardown().then(
      () => sim(`removed the network namespaces and the bridge ${netns?.wan.plan.bridge}`),
      (error: unknown) => sim(`could not remove the network namespaces (\`npx flexseat-sim clean\` retries): ${(error as Error).message}`),
    )
  }
  const tokens = await ensureTokens(stateDir, sites.map((site) => site.id))
  logs = await ProcessLogs.open(stateDir)
  const verbose = values.verbose === true
  // Events are shown once the map is out; errors at once.
  let ready = false

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
  sim(`SIP engine: ${engine.name === 'embedded' ? 'embedded (packages/sip-engine)' : `drachtio-server (${engine.bin})`}`)
  sim(`starting etcd (${sites.map((site) => site.etcd.name).join(', ')}); each process logs to ${logsDirOf(stateDir)}/<site>-<kind>.log${verbose ? '' : ' (--verbose: here too)'}`)
  const starting = Launcher.start({
    sites,
    kinds: siteProcessKinds(engine),
    sitesDir,
    stateDir,
    repoRoot,
    tokens,
    env: process.env,
    signal: abort.signal,
    ...(netns === undefined ? {} : { commandPrefix: commandPrefixOf(netns.wan) }),
    onLine: (source: string, line: LogLine) => {
      logs?.write(source, line.text)
      // etcd's complaints about its peers going away are expected while we stop it.
      if (exitCode !== undefined && source.endsWith(' etcd')) return
      if (verbose) {
        if (!isNoise(line)) say(source, formatLogLine(line))
        return
      }
      const event = eventLineOf(source.slice(source.indexOf(' ') + 1), line)
      if (event !== undefined && (ready || event.error)) say(source, event.text)
    },
  })

  const shutdown = async (code: number): Promise<void> => {
    if (exitCode !== undefined) return
    exitCode = code
    sim('stopping: portals, provisioning services, SIP nodes, SIP engines, registries, then etcd')
    // During the start, aborting makes Launcher.start stop what it began before it rejects.
    abort.abort()
    const started = await starting.catch(() => undefined)
    await started?.stop()
    await removeNetwork()
    sim('stopped')
    await logs?.close()
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
    await removeNetwork()
    await logs?.close()
    return 1
  }
  if (exitCode !== undefined) return finished
  // A supervisor's job: whatever dies comes back by itself; only Ctrl-C stops everything.
  launcher.on('restarting', ({ source, pid, exit, inMs, attempt }: Restarting) => {
    sim(`${source} (pid ${pid}) ended unexpectedly: ${describeExit(exit)}; restarting it in ${(inMs / 1_000).toFixed(inMs < 10_000 ? 1 : 0)} s${attempt > 1 ? ` (crash ${attempt} in a row)` : ''}`)
  })
  launcher.on('restarted', ({ source, pid }: Restarted) => sim(`${source} restarted (pid ${pid})`))
  launcher.on('restart-failed', ({ source, error }: RestartFailed) => sim(`${source} could not be restarted: ${error instanceof Error ? error.message : String(error)}; trying again`))

  const registries = launcher.addresses('registry')
  const status = await fetchClusterStatus([...registries.values()][0] ?? '', tokens.admin).catch(() => undefined)
  if (exitCode !== undefined) return finished
  const directory = await readDemoDirectory(stateDir)
  const sip = launcher.addresses('sip-node').size > 0
  for (const line of formatClusterMap({ sites, registries, status, stateDir, cwd: process.cwd(), directory, sip, wan: netns?.wan.plan, provisioning: launcher.addresses('provisioning'), portal: launcher.addresses('portal') })) process.stdout.write(`${line}\n`)
  sim('ready')
  ready = true
  return finished
}

/** Each site's processes start inside its namespace. */
function commandPrefixOf(wan: NetnsSetup['wan']): (site: SiteConfig) => readonly string[] {
  return (site) => wan.commandPrefix(site.id)
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`flexseat-sim failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`)
    process.exit(1)
  },
)
