/**
 * Several branch offices on this machine, for integration tests and benchmarks of the SIP node:
 * one etcd cluster, one registry process per branch, and per branch a SIP engine (the embedded
 * `flexseat-sip-engine`, or drachtio-server in a twin file: engines.ts) and the branch's SIP node (`node packages/sip-node/dist/main.js`), all
 * tethered child processes on loopback ports. Phones are sipp processes (see {@link Phone}).
 *
 * ```ts
 * const branches = await Branches.start(t, { confirmationLeaseSeconds: 2, carrier: true })
 * const desk = await branches.phone('amsterdam', 'ams-desk-1').start()   // REGISTER, then answer
 * const signIn = await desk.dial(`*51*1001*${PIN['1001']}`)               // 480 Signed in as 1001
 * await branches.stopRegistry('amsterdam')                                 // cut amsterdam off
 * ```
 *
 * Build first (`npm run build`): the processes run the compiled `dist/main.js` files. Teardown
 * (registered on `t`) kills every process whatever happened, and removes the temp folder.
 */
import { randomBytes, randomUUID } from 'node:crypto'
import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { existsSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { isAbsolute, join } from 'node:path'
import { createInterface } from 'node:readline'
import { parseDocument } from 'yaml'
import { type Device, type Seat, unary, User } from '@flexseat/proto'
import { dropScannerArgs, EMBEDDED_ENGINE_NODE_FLAGS, freePorts, freeUdpPortRange, TetheredProcess } from '@flexseat/sim'
import { REPO_ROOT, RegistryCluster } from './registry-cluster'
import { DRACHTIO_READY_LINE, drachtioServerArgs, onRealDrachtio, requireDrachtioServerBin } from './engines'
import { freePort, type TestLike } from './sip-engine'
import { isBound, parseSippTrace, type SippTraceEntry } from './sipp'

/** The SIP engine's compiled entry point. */
export const ENGINE_MAIN = join(REPO_ROOT, 'packages', 'sip-engine', 'dist', 'main.js')
/** The SIP node's compiled entry point. */
export const SIP_NODE_MAIN = join(REPO_ROOT, 'packages', 'sip-node', 'dist', 'main.js')
/** The simulated phones' scenarios, shared with `npm run demo` and the benchmark. */
const SIPP_FIXTURES = join(REPO_ROOT, 'packages', 'sim', 'sipp')

/**
 * What a listening phone does with an INVITE: `answer` (phone-answer.xml: 180, 200, then the
 * caller's BYE), `ring` (phone-ring.xml: 180 and nothing more until a CANCEL, 200 + 487) or
 * `answer-late` (test/fixtures/sipp/phone-answer-late.xml: 180, and 200 four seconds later unless
 * a CANCEL comes first).
 */
export type PhoneMode = 'answer' | 'ring' | 'answer-late'

/** The scenario of each {@link PhoneMode}. */
const PHONE_SCENARIOS: Readonly<Record<PhoneMode, string>> = {
  answer: join(SIPP_FIXTURES, 'phone-answer.xml'),
  ring: join(SIPP_FIXTURES, 'phone-ring.xml'),
  'answer-late': join(REPO_ROOT, 'test', 'fixtures', 'sipp', 'phone-answer-late.xml'),
}

/** Workers seeded in every harness: extension → PIN. */
export const PIN: Readonly<Record<string, string>> = { '1001': '4711', '1002': '2468', '1003': '1357', '1004': '8642' }

/** Seeded workers: 1001, 1002 and 1004 may roam; 1003 may sit only at its home site. */
export const WORKERS: readonly User[] = [
  User.fromPartial({ id: 'ada', extension: '1001', displayName: 'Ada Lovelace', homeSiteId: 'amsterdam', roamingAllowed: true }),
  User.fromPartial({ id: 'alan', extension: '1002', displayName: 'Alan Turing', homeSiteId: 'berlin', roamingAllowed: true }),
  User.fromPartial({ id: 'grace', extension: '1003', displayName: 'Grace Hopper', homeSiteId: 'amsterdam', roamingAllowed: false }),
  User.fromPartial({ id: 'edsger', extension: '1004', displayName: 'Edsger Dijkstra', homeSiteId: 'chicago', roamingAllowed: true }),
]

/** Options of {@link Branches.start}. */
export interface BranchesOptions {
  /** The branches (default amsterdam, berlin, chicago), from the repository's sites/. */
  sites?: readonly string[]
  /** FLEXSEAT_CONFIRMATION_LEASE_SECONDS of every registry (default: the registry's own default). */
  confirmationLeaseSeconds?: number
  /** Start a sipp UAS standing in for the carrier gateway; every site's `sip.carrier_uri` names it. */
  carrier?: boolean
  /** Members of the etcd cluster (default 1: the nodes never talk to etcd, the registries share it). */
  etcdMembers?: number
  /** FLEXSEAT_LOG_LEVEL of the nodes (default `debug`) and registries (default `debug`). */
  logLevel?: string
  /** Extra environment of every SIP node. */
  nodeEnv?: Record<string, string>
  /** Extra environment of every registry. */
  registryEnv?: Record<string, string>
  /** Extra environment of each branch's embedded SIP engine (not of a drachtio-server). */
  engineEnv?: (siteId: string) => Record<string, string>
  /** Changes a branch's site file before anything starts (e.g. its `emergency` section). */
  sitePatch?: (siteId: string, doc: ReturnType<typeof parseDocument>) => void
  /** Seed the devices and workers (default true). */
  seed?: boolean
  /** Deadline of each start step in ms (default 20 000). */
  startTimeoutMs?: number
  /** Start the SIP nodes (default true; false leaves that to {@link Branches.startNode}). */
  startNodes?: boolean
  /** Wait for each node's `lease active` as well as `sip node ready` (default true). */
  waitForLease?: boolean
  /**
   * Which registry leads when the nodes start: `is` a site, or `not` a site (default: whichever
   * the election gave). Moved before any node runs by stopping and restarting leaders.
   */
  leader?: { is?: string; not?: string }
}

/** A JSON log line of a SIP node (pino), with the raw text. */
export interface LogLine {
  /** pino's `time` (ms since the epoch). */
  time: number
  msg: string
  level: number
  [field: string]: unknown
}

/** A seeded device: its id, extension and SIP password. */
export interface SeededDevice {
  id: string
  siteId: string
  extension: string
  label: string
  flexHost: boolean
  password: string
}

/** One branch of the harness. */
export interface Branch {
  readonly id: string
  readonly index: number
  /** `name` of the site file (e.g. Berlin). */
  readonly name: string
  /** SIP domain (digest realm). */
  readonly domain: string
  readonly dispatchableLocation: string
  readonly emergencyNumbers: readonly string[]
  /** The engine's SIP port (UDP and TCP), where the branch's phones register. */
  readonly sipPort: number
  readonly controlPort: number
  /** The registry's fixed address (its node talks only to it). */
  readonly registryAddress: string
  readonly engine: TetheredProcess
  /** undefined while stopped or killed. */
  node: TetheredProcess | undefined
  /** Every parsed log line of every run of the node, oldest first. */
  readonly nodeLogs: LogLine[]
  /** Every non-JSON output line of the node (stack traces...). */
  readonly nodeText: string[]
  readonly engineText: string[]
  /** The seeded devices: two flex desks and one fixed phone. */
  readonly devices: readonly SeededDevice[]
}

/** Timings of {@link Branches.start}, in ms. */
export interface StartupTimes {
  total: number
  engines: number
  registries: number
  seed: number
  nodes: number
}

interface SiteFile {
  id: string
  name: string
  domain: string
  dispatchableLocation: string
  emergencyNumbers: string[]
}

/**
 * The harness (see the file comment). Created with {@link Branches.start}; every process is
 * stopped in `t.teardown` (or by {@link stop}).
 */
export class Branches {
  readonly registry: RegistryCluster
  readonly dir: string
  readonly sitesDir: string
  readonly branches: readonly Branch[]
  readonly startup: StartupTimes
  /** The carrier sipp (when asked for): a {@link Phone}-like answering machine. */
  readonly carrier: Phone | undefined
  readonly #options: BranchesOptions
  readonly #phones = new Map<string, Phone>()
  readonly #devices = new Map<string, SeededDevice>()
  readonly #trunkSecretFile: string
  /** The file with the sip-node token of a site (each node's token acts for its own site). */
  readonly #tokenFile: (siteId: string) => string
  readonly #drachtioSecret: string
  #stopped = false

  private constructor(init: {
    t: TestLike
    options: BranchesOptions
    registry: RegistryCluster
    dir: string
    sitesDir: string
    branches: Branch[]
    startup: StartupTimes
    carrier: Phone | undefined
    trunkSecretFile: string
    tokenFile: (siteId: string) => string
    drachtioSecret: string
  }) {
    this.#options = init.options
    this.registry = init.registry
    this.dir = init.dir
    this.sitesDir = init.sitesDir
    this.branches = init.branches
    this.startup = init.startup
    this.carrier = init.carrier
    this.#trunkSecretFile = init.trunkSecretFile
    this.#tokenFile = init.tokenFile
    this.#drachtioSecret = init.drachtioSecret
    for (const branch of init.branches) for (const device of branch.devices) this.#devices.set(device.id, device)
  }

  /**
   * Starts everything (engines, etcd and registries, seed, nodes), resolving once every node
   * logged `sip node ready` and `lease active`. On failure everything started is stopped.
   */
  static async start(t: TestLike, options: BranchesOptions = {}): Promise<Branches> {
    const started = performance.now()
    const timeoutMs = options.startTimeoutMs ?? 20_000
    const siteIds = [...(options.sites ?? ['amsterdam', 'berlin', 'chicago'])]
    const dir = await mkdtemp(join(tmpdir(), 'flexseat-branches-'))
    const sitesDir = join(dir, 'sites')
    await mkdir(sitesDir)
    await mkdir(join(dir, 'phones'))
    const cleanups: (() => Promise<unknown>)[] = []
    // The teardown is registered before anything starts, so it runs whatever happens below.
    let harness: Branches | undefined
    t.teardown(async () => {
      if (harness !== undefined) await harness.stop()
      else for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined)
      await rm(dir, { recursive: true, force: true, maxRetries: 3 })
    })
    const keepAlive = setInterval(() => undefined, 1_000)
    try {
      const drachtioSecret = randomBytes(8).toString('hex')
      let carrier: Phone | undefined
      const carrierStart = options.carrier === true ? Phone.answeringMachine(join(dir, 'phones'), 'carrier').then((phone) => (carrier = phone)) : Promise.resolve(undefined)
      cleanups.push(async () => carrier?.stop())

      // 1. Engines on port 0 (they print the ports they got), in parallel.
      const engineStart = performance.now()
      const engines = await Promise.all(siteIds.map((siteId) => startEngine(siteId, drachtioSecret, timeoutMs, cleanups, options.engineEnv?.(siteId))))
      await carrierStart
      const enginesMs = performance.now() - engineStart

      // 2. Site files with this run's addresses; the registries get fixed ports so that a
      //    restarted registry is where its node looks for it.
      const registryPorts = await freePorts(siteIds.length)
      const files: SiteFile[] = []
      for (const [i, siteId] of siteIds.entries()) {
        files.push(
          await writeSiteFile(siteId, sitesDir, {
            sipPort: engines[i]!.sipPort,
            controlPort: engines[i]!.controlPort,
            registryListen: `127.0.0.1:${registryPorts[i]}`,
            carrierUri: carrier === undefined ? undefined : `sip:127.0.0.1:${carrier.port}`,
            ...(options.sitePatch === undefined ? {} : { patch: options.sitePatch }),
          }),
        )
      }

      // 3. etcd and the registries.
      const registryStart = performance.now()
      const registry = await RegistryCluster.start({
        instances: siteIds.length,
        sites: siteIds,
        sitesDir,
        etcdMembers: options.etcdMembers ?? 1,
        logLevel: options.logLevel ?? 'debug',
        startTimeoutMs: timeoutMs,
        listen: registryPorts.map((port) => `127.0.0.1:${port}`),
        env: {
          ...(options.confirmationLeaseSeconds === undefined ? {} : { FLEXSEAT_CONFIRMATION_LEASE_SECONDS: String(options.confirmationLeaseSeconds) }),
          ...options.registryEnv,
        },
      })
      cleanups.push(() => registry.stop())
      // The etcd URLs of the site files name this run's cluster (nothing here reads them: the
      // registries get FLEXSEAT_ETCD_ENDPOINTS; the files are rewritten for whoever looks).
      for (const [i, siteId] of siteIds.entries()) {
        const member = registry.etcd.members[i % registry.etcd.members.length]!
        await patchSiteFile(join(sitesDir, `${siteId}.yaml`), (doc) => {
          doc.setIn(['etcd', 'client_url'], member.clientUrl)
          doc.setIn(['etcd', 'peer_url'], member.peerUrl)
        })
      }
      const registriesMs = performance.now() - registryStart

      const tokenFile = (siteId: string): string => join(dir, `sip-node-${siteId}.token`)
      for (const siteId of siteIds) await writeFile(tokenFile(siteId), `${registry.siteToken(siteId)}\n`, { mode: 0o600 })
      const trunkSecretFile = join(dir, 'trunk.secret')
      await writeFile(trunkSecretFile, `${randomBytes(24).toString('hex')}\n`, { mode: 0o600 })

      const branches: Branch[] = siteIds.map((siteId, index) => ({
        id: siteId,
        index,
        name: files[index]!.name,
        domain: files[index]!.domain,
        dispatchableLocation: files[index]!.dispatchableLocation,
        emergencyNumbers: files[index]!.emergencyNumbers,
        sipPort: engines[index]!.sipPort,
        controlPort: engines[index]!.controlPort,
        registryAddress: `127.0.0.1:${registryPorts[index]}`,
        engine: engines[index]!.process,
        node: undefined,
        nodeLogs: [],
        nodeText: [],
        engineText: engines[index]!.text,
        devices: seededDevices(siteId, index),
      }))
      harness = new Branches({ t, options, registry, dir, sitesDir, branches, startup: { total: 0, engines: enginesMs, registries: registriesMs, seed: 0, nodes: 0 }, carrier, trunkSecretFile, tokenFile, drachtioSecret })

      if (options.leader !== undefined) {
        const { is, not } = options.leader
        await harness.moveLeader((siteId) => (is === undefined || siteId === is) && siteId !== not)
      }
      Object.assign(harness.startup, { registries: performance.now() - registryStart })

      // 4. Seed the directory, then 5. start the nodes (they load the directory at start).
      const seedStart = performance.now()
      if (options.seed !== false) await harness.#seed()
      const seedMs = performance.now() - seedStart
      const nodeStart = performance.now()
      if (options.startNodes !== false) await Promise.all(branches.map((branch) => harness!.startNode(branch.id, { waitForLease: options.waitForLease ?? true })))
      const nodesMs = performance.now() - nodeStart
      Object.assign(harness.startup, { total: performance.now() - started, seed: seedMs, nodes: nodesMs })
      return harness
    } finally {
      clearInterval(keepAlive)
    }
  }

  /** The branch `siteId`. */
  branch(siteId: string): Branch {
    const branch = this.branches.find((b) => b.id === siteId)
    if (branch === undefined) throw new RangeError(`no branch ${siteId}`)
    return branch
  }

  /** A seeded (or {@link addDevice}d) device. */
  device(deviceId: string): SeededDevice {
    const device = this.#devices.get(deviceId)
    if (device === undefined) throw new RangeError(`no device ${deviceId}`)
    return device
  }

  /**
   * The phone of device `deviceId` at `siteId` (one object per device; not registered yet:
   * call {@link Phone.start}). `password` overrides the device's SIP password (a wrong one).
   */
  phone(siteId: string, deviceId: string, options: { password?: string } = {}): Phone {
    const key = `${siteId}/${deviceId}/${options.password ?? ''}`
    let phone = this.#phones.get(key)
    if (phone === undefined) {
      const branch = this.branch(siteId)
      const device = this.#devices.get(deviceId)
      phone = new Phone({
        dir: join(this.dir, 'phones'),
        name: `${deviceId}${options.password === undefined ? '' : '-alt'}`,
        deviceId,
        password: options.password ?? device?.password ?? 'no-such-password',
        domain: branch.domain,
        registrar: `127.0.0.1:${branch.sipPort}`,
        extension: device?.extension ?? '',
      })
      this.#phones.set(key, phone)
    }
    return phone
  }

  /** Admin clients of a live registry instance (the first live one, or `siteId`'s). */
  admin(siteId?: string): ReturnType<RegistryCluster['clients']> {
    const index = siteId === undefined ? this.registry.live[0] : this.branch(siteId).index
    if (index === undefined) throw new Error('no live registry instance')
    return this.registry.clients(index)
  }

  /** The seat of a worker (by extension), as a live registry answers it; undefined when unseated. */
  async seat(extension: string, siteId?: string): Promise<Seat | undefined> {
    const { seat } = this.admin(siteId)
    const response = await unary(seat.getSeat.bind(seat), { target: { $case: 'extension', value: extension } }, { metadata: this.registry.metadata('admin'), timeoutMs: 3_000 })
    return response.seat
  }

  /** Creates a device with a SIP password (and toll classes) through the admin API (for benchmarks seeding many). */
  async addDevice(device: Omit<SeededDevice, 'password'> & { password?: string; callClasses?: string[] }): Promise<SeededDevice> {
    const { callClasses, ...rest } = device
    const seeded: SeededDevice = { ...rest, password: device.password ?? randomBytes(9).toString('base64url') }
    const { directory } = this.admin()
    const record: Device = {
      id: seeded.id,
      siteId: seeded.siteId,
      extension: seeded.extension,
      label: seeded.label,
      model: 'sipp',
      flexHost: seeded.flexHost,
      revision: '0',
      sipPassword: seeded.password,
      ...(callClasses === undefined ? {} : { callClasses: { classes: callClasses } }),
    }
    await retrying(() => unary(directory.createDevice.bind(directory), { requestId: `seed-${seeded.id}`, device: record }, { metadata: this.registry.metadata('admin'), timeoutMs: 5_000 }))
    this.#devices.set(seeded.id, seeded)
    return seeded
  }

  /** Creates a worker through the admin API. */
  async addWorker(user: User, pin: string): Promise<void> {
    const { directory } = this.admin()
    await retrying(() => unary(directory.createUser.bind(directory), { requestId: `seed-${user.id}`, user, pin }, { metadata: this.registry.metadata('admin'), timeoutMs: 5_000 }))
  }

  /** The site whose registry is the leader, as the live instances agree. */
  async leaderSite(): Promise<string> {
    const index = await this.registry.leader()
    return this.registry.instances[index]!.siteId
  }

  /**
   * Moves the registry leadership until `wanted(leader site)` holds, by stopping the leader
   * (SIGTERM: it resigns at once) and starting it again, and resolves with the leader's site.
   * Meant for before the nodes start: a node whose registry restarts loses its lease briefly.
   */
  async moveLeader(wanted: (siteId: string) => boolean, attempts = 8): Promise<string> {
    for (let attempt = 0; ; attempt += 1) {
      const leader = await this.leaderSite()
      if (wanted(leader)) return leader
      if (attempt >= attempts) throw new Error(`the registry leadership did not move as wanted (still ${leader})`)
      const index = this.branch(leader).index
      await this.registry.terminate(index)
      await this.registry.waitForLeader({ not: index })
      await this.registry.restart(index)
    }
  }

  // --- faults -----------------------------------------------------------------------------

  /** Stops `siteId`'s registry (SIGTERM, graceful): its node is cut off from the cluster. */
  async stopRegistry(siteId: string): Promise<void> {
    await this.registry.terminate(this.branch(siteId).index, 5_000)
  }

  /** Kills `siteId`'s registry (SIGKILL). */
  async killRegistry(siteId: string): Promise<void> {
    await this.registry.kill(this.branch(siteId).index)
  }

  pauseRegistry(siteId: string): void {
    this.registry.pause(this.branch(siteId).index)
  }

  resumeRegistry(siteId: string): void {
    this.registry.resume(this.branch(siteId).index)
  }

  /** Starts `siteId`'s registry again on the same address; resolves once it listens. */
  async startRegistry(siteId: string): Promise<void> {
    await this.registry.restart(this.branch(siteId).index)
  }

  /**
   * Starts `siteId`'s SIP node (again) and resolves once it logged `sip node ready` and
   * `lease active` (only `sip node ready` with `waitForLease: false`).
   */
  async startNode(siteId: string, options: { waitForLease?: boolean; timeoutMs?: number } = {}): Promise<void> {
    const branch = this.branch(siteId)
    if (branch.node?.running === true) throw new Error(`the node of ${siteId} runs already`)
    if (!existsSync(SIP_NODE_MAIN)) throw new Error(`${SIP_NODE_MAIN} is missing: build the sip-node package first (npm run build)`)
    const inherited = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('FLEXSEAT_') && !name.startsWith('OTEL_')))
    const env: NodeJS.ProcessEnv = {
      ...inherited,
      FLEXSEAT_REGISTRY_ADDRESSES: branch.registryAddress,
      FLEXSEAT_SIP_NODE_TOKEN_FILE: this.#tokenFile(siteId),
      FLEXSEAT_TRUNK_SECRET_FILE: this.#trunkSecretFile,
      FLEXSEAT_DRACHTIO_SECRET: this.#drachtioSecret,
      FLEXSEAT_LOG_LEVEL: this.#options.logLevel ?? 'debug',
      ...this.#options.nodeEnv,
    }
    const since = branch.nodeLogs.length
    const child = await TetheredProcess.spawn(process.execPath, [SIP_NODE_MAIN, '--site', siteId, '--sites-dir', this.sitesDir], { cwd: REPO_ROOT, env })
    branch.node = child
    collectLines(child, (line) => {
      const parsed = parseLogLine(line)
      if (parsed === undefined) pushCapped(branch.nodeText, line)
      else pushCapped(branch.nodeLogs, parsed)
    })
    const timeoutMs = options.timeoutMs ?? this.#options.startTimeoutMs ?? 20_000
    const exited = child.exited.then((exit) => {
      throw new Error(`the SIP node of ${siteId} exited while starting (${JSON.stringify(exit)}): ${this.nodeOutput(siteId, 30)}`)
    })
    const ready = Promise.all([
      this.waitForNodeLog(siteId, (l) => l.msg === 'sip node ready', { since, timeoutMs }),
      options.waitForLease === false ? undefined : this.waitForNodeLog(siteId, (l) => l.msg === 'lease active', { since, timeoutMs }),
    ])
    try {
      await Promise.race([ready, exited])
    } finally {
      exited.catch(() => undefined)
      ready.catch(() => undefined)
    }
  }

  /** Stops `siteId`'s node (SIGTERM: it releases its lease). */
  async stopNode(siteId: string, graceMs = 5_000): Promise<void> {
    const branch = this.branch(siteId)
    await holding(async () => branch.node?.stop(graceMs))
    branch.node = undefined
  }

  /** Kills `siteId`'s node (SIGKILL: its lease runs out on its own). */
  async killNode(siteId: string): Promise<void> {
    const branch = this.branch(siteId)
    await holding(async () => branch.node?.kill())
    branch.node = undefined
  }

  pauseNode(siteId: string): void {
    this.branch(siteId).node?.signal('SIGSTOP')
  }

  resumeNode(siteId: string): void {
    this.branch(siteId).node?.signal('SIGCONT')
  }

  /** How many log lines `siteId`'s node has written so far (a `since` for {@link waitForNodeLog}). */
  nodeLogMark(siteId: string): number {
    return this.branch(siteId).nodeLogs.length
  }

  /**
   * Resolves with the first log line of `siteId`'s node (from index `since`) that matches
   * `test`; rejects after `timeoutMs` (default 10 000) naming `what`.
   */
  async waitForNodeLog(siteId: string, test: (line: LogLine) => boolean, options: { since?: number; timeoutMs?: number; what?: string } = {}): Promise<LogLine> {
    const branch = this.branch(siteId)
    const deadline = Date.now() + (options.timeoutMs ?? 10_000)
    let seen = options.since ?? 0
    for (;;) {
      for (; seen < branch.nodeLogs.length; seen += 1) if (test(branch.nodeLogs[seen]!)) return branch.nodeLogs[seen]!
      if (Date.now() > deadline) throw new Error(`${siteId} node: no log line ${options.what ?? 'matching'} within the deadline; last lines:\n${this.nodeOutput(siteId, 15)}`)
      await pause(25)
    }
  }

  /** Log lines of `siteId`'s node matching `test`, from `since`. */
  nodeLogsMatching(siteId: string, test: (line: LogLine) => boolean, since = 0): LogLine[] {
    return this.branch(siteId).nodeLogs.slice(since).filter(test)
  }

  /** The last `count` output lines of a node (for failure messages). */
  nodeOutput(siteId: string, count = 20): string {
    const branch = this.branch(siteId)
    return [...branch.nodeLogs.slice(-count).map((l) => JSON.stringify(l)), ...branch.nodeText.slice(-count)].join('\n')
  }

  /** Stops phones, nodes, engines, registries and etcd; removes nothing else. Idempotent. */
  async stop(): Promise<void> {
    if (this.#stopped) return
    this.#stopped = true
    await holding(async () => {
      await this.#keepLogs().catch(() => undefined)
      await Promise.all([...this.#phones.values()].map((phone) => phone.stop().catch(() => undefined)))
      await this.carrier?.stop().catch(() => undefined)
      await Promise.all(this.branches.map((branch) => branch.node?.stop(2_000).catch(() => undefined)))
      await Promise.all(this.branches.map((branch) => branch.engine.stop(2_000).catch(() => undefined)))
      await this.registry.stop().catch(() => undefined)
    })
  }

  /**
   * With FLEXSEAT_TEST_LOGS_DIR set, copies every node's and registry's log lines and every
   * phone's message logs into a folder of this harness there (for reading after a failure; the
   * temp folder is removed).
   */
  async #keepLogs(): Promise<void> {
    const root = process.env['FLEXSEAT_TEST_LOGS_DIR']
    if (root === undefined || root === '') return
    // One folder per harness (a test file may start several).
    const target = join(root, this.dir.split('/').at(-1)!)
    await mkdir(target, { recursive: true })
    for (const branch of this.branches) {
      await writeFile(join(target, `node-${branch.id}.log`), [...branch.nodeLogs.map((l) => JSON.stringify(l)), ...branch.nodeText].join('\n'))
      await writeFile(join(target, `engine-${branch.id}.log`), branch.engineText.join('\n'))
    }
    for (const instance of this.registry.instances) await writeFile(join(target, `registry-${instance.siteId}.log`), instance.logs.join('\n'))
    const phones = join(this.dir, 'phones')
    const { readdir } = await import('node:fs/promises')
    for (const name of await readdir(phones)) await copyFile(join(phones, name), join(target, name)).catch(() => undefined)
  }

  async #seed(): Promise<void> {
    // The registries create their own site records when they start; devices need them.
    const { directory } = this.admin()
    for (const branch of this.branches) {
      await retrying(() => unary(directory.getSite.bind(directory), { siteId: branch.id }, { metadata: this.registry.metadata('admin'), timeoutMs: 2_000 }))
    }
    const devices = this.branches.flatMap((branch) => branch.devices)
    await Promise.all(devices.map((device) => this.addDevice(device)))
    const siteIds = new Set(this.branches.map((b) => b.id))
    await Promise.all(
      WORKERS.map((user) => this.addWorker(User.fromPartial({ ...user, homeSiteId: siteIds.has(user.homeSiteId) ? user.homeSiteId : this.branches[0]!.id }), PIN[user.extension]!)),
    )
  }
}

/**
 * A desk phone: sipp processes on one fixed local port P of 127.0.0.1, UDP. {@link register}
 * runs packages/sim/sipp/phone-register.xml from P (digest auth with the device's
 * credentials; Contact on P); {@link answer} then keeps phone-answer.xml listening on P (MESSAGE
 * → 200; INVITE → 180, 200, ACK, BYE → 200) with a message log that {@link received} reads
 * ({@link PhoneMode} `ring`: phone-ring.xml instead, a phone nobody picks up).
 * {@link dial} runs phone-dial.xml from a port of its own (INVITE, 407, INVITE with
 * Proxy-Authorization) and returns what came back.
 */
export class Phone {
  readonly deviceId: string
  readonly extension: string
  readonly domain: string
  /** host:port of the branch's engine. */
  readonly registrar: string
  readonly password: string
  readonly #dir: string
  readonly #name: string
  #port: number | undefined
  #answering: TetheredProcess | undefined
  #answerOutput = ''
  #mode: PhoneMode = 'answer'
  readonly #runs = new Set<TetheredProcess>()
  #dials = 0

  constructor(init: { dir: string; name: string; deviceId: string; password: string; domain: string; registrar: string; extension: string }) {
    this.#dir = init.dir
    this.#name = init.name
    this.deviceId = init.deviceId
    this.password = init.password
    this.domain = init.domain
    this.registrar = init.registrar
    this.extension = init.extension
  }

  /**
   * A phone that only answers (the carrier gateway; the benchmark's desks): listening at once on
   * `port` (default a fresh one).
   */
  static async answeringMachine(dir: string, name: string, port?: number): Promise<Phone> {
    const phone = new Phone({ dir, name, deviceId: name, password: '', domain: 'carrier.test', registrar: '', extension: '' })
    phone.#port = port
    await phone.answer()
    return phone
  }

  /** The phone's local port (picked at the first register/answer). */
  get port(): number {
    if (this.#port === undefined) throw new Error(`${this.#name} has no port yet`)
    return this.#port
  }

  /** The message log of the answering sipp. */
  get traceFile(): string {
    return join(this.#dir, `${this.#name}.messages.log`)
  }

  /** Registers (expecting 200) and starts answering (`mode`, default `answer`). Resolves with the phone. */
  async start(options: { mode?: PhoneMode } = {}): Promise<this> {
    if (options.mode !== undefined) this.#mode = options.mode
    const outcome = await this.register()
    if (outcome.status !== 200) throw new Error(`${this.deviceId} could not register: ${outcome.status} ${outcome.reason ?? ''}\n${outcome.output}`)
    await this.answer()
    return this
  }

  /** What the listening sipp does with INVITEs (see {@link PhoneMode}). */
  get mode(): PhoneMode {
    return this.#mode
  }

  /** Sends REGISTER from the phone's port (stops answering meanwhile) and returns the final response. */
  async register(options: { expires?: number; timeoutSec?: number } = {}): Promise<SipOutcome> {
    const wasAnswering = this.#answering !== undefined
    if (wasAnswering) await this.stopAnswering()
    this.#port ??= await freePort()
    const trace = join(this.#dir, `${this.#name}.register-${randomUUID().slice(0, 8)}.log`)
    const outcome = await this.#run('phone-register.xml', {
      remote: this.registrar,
      port: this.#port,
      trace,
      timeoutSec: options.timeoutSec ?? 10,
      args: ['-key', 'device', this.deviceId, '-key', 'domain', this.domain, '-key', 'expires', String(options.expires ?? 3600), '-au', this.deviceId, '-ap', this.password],
    })
    if (wasAnswering) await this.answer()
    return outcome
  }

  /**
   * Starts the answering sipp on the phone's port (idempotent); resolves once it is bound. A
   * `mode` other than the current one restarts it with that mode's scenario (the message log
   * goes on).
   */
  async answer(mode?: PhoneMode): Promise<void> {
    if (mode !== undefined && mode !== this.#mode) {
      this.#mode = mode
      await this.stopAnswering()
    }
    if (this.#answering?.running === true) return
    this.#port ??= await freePort()
    // The media ports are picked free just before sipp binds them, and another test file may take
    // one meanwhile (files run two at a time): sipp then exits with "Unable to bind audio RTP
    // socket". Started again on another media range, at most three times; the SIP port stays.
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.#startAnswering(this.#port)
      } catch (error) {
        if (attempt >= 3 || !(error instanceof Error) || !/Unable to bind audio|Unable to bind video/i.test(error.message)) throw error
      }
    }
  }

  async #startAnswering(port: number): Promise<void> {
    const args = [
      '-sf', PHONE_SCENARIOS[this.#mode],
      '-i', '127.0.0.1', '-p', String(port), '-mp', String(await freeUdpPortRange()),
      '-t', 'u1', '-m', '1000000', '-nostdin', '-aa',
      '-s', this.deviceId,
      '-trace_msg', '-message_file', this.traceFile, '-message_overwrite', 'false',
      '-timeout', '600s',
    ]
    const child = await TetheredProcess.spawn('sipp', args, { cwd: this.#dir })
    this.#answering = child
    this.#answerOutput = ''
    child.stderr.setEncoding('utf8')
    child.stderr.on('data', (chunk: string) => (this.#answerOutput = (this.#answerOutput + chunk).slice(-4_000)))
    child.stdout.resume()
    const deadline = Date.now() + 5_000
    while (!isBound(port, 'udp')) {
      if (!child.running) {
        this.#answering = undefined
        throw new Error(`${this.#name}: sipp exited before listening on ${port}: ${this.#answerOutput}`)
      }
      if (Date.now() > deadline) throw new Error(`${this.#name}: sipp not listening on ${port} within 5 s`)
      await pause(20)
    }
  }

  /** Stops the answering sipp (its message log stays). */
  async stopAnswering(): Promise<void> {
    const child = this.#answering
    this.#answering = undefined
    if (child !== undefined) await holding(() => child.kill())
  }

  /**
   * Dials `number` (a feature code, an extension, an emergency or external number) with the
   * device's credentials and resolves once the call ended (answered calls are held `holdMs`,
   * default 200 ms, and hung up). `header` adds one header
   * line to the INVITEs.
   */
  async dial(number: string, options: { header?: string; timeoutSec?: number; holdMs?: number } = {}): Promise<CallOutcome> {
    this.#dials += 1
    const trace = join(this.#dir, `${this.#name}.dial-${this.#dials}-${randomUUID().slice(0, 8)}.log`)
    const started = Date.now()
    const outcome = await this.#run('phone-dial.xml', {
      remote: this.registrar,
      port: await freePort(),
      freshPort: true,
      trace,
      timeoutSec: options.timeoutSec ?? 15,
      args: [
        '-s', number,
        '-key', 'device', this.deviceId, '-key', 'domain', this.domain,
        '-key', 'extra', options.header ?? `X-Test-Dial: ${this.#dials}`,
        '-au', this.deviceId, '-ap', this.password,
        '-auth_uri', `${number}@${this.registrar}`,
        '-d', String(options.holdMs ?? 200),
      ],
    })
    const invites = outcome.trace.filter((m) => m.direction === 'sent' && m.method === 'INVITE')
    const callId = invites[0]?.header('call-id') ?? ''
    return { ...outcome, started, invitedAt: invites[0]?.time, lastInviteAt: invites.at(-1)?.time, callId, answered: outcome.status !== undefined && outcome.status >= 200 && outcome.status < 300 }
  }

  /** Every message the answering sipp received so far (from its message log). */
  received(): SippTraceEntry[] {
    let text = ''
    try {
      text = readFileSync(this.traceFile, 'utf8')
    } catch {
      return []
    }
    return parseSippTrace(text).filter((m) => m.direction === 'received')
  }

  /** MESSAGE bodies the phone received (retransmissions once), with when. */
  messages(): { time: number; text: string; callId: string }[] {
    const seen = new Set<string>()
    const out: { time: number; text: string; callId: string }[] = []
    for (const m of this.received()) {
      if (m.method !== 'MESSAGE') continue
      const key = `${m.header('call-id')} ${m.header('cseq')}`
      if (seen.has(key)) continue
      seen.add(key)
      out.push({ time: m.time, text: m.body.trim(), callId: m.header('call-id') })
    }
    return out
  }

  /** INVITEs the phone received (retransmissions once). */
  invites(): SippTraceEntry[] {
    const seen = new Set<string>()
    return this.received().filter((m) => {
      if (m.method !== 'INVITE') return false
      const key = `${m.header('call-id')} ${m.header('cseq')}`
      if (seen.has(key)) return false
      seen.add(key)
      return true
    })
  }

  /** Resolves with the first received message matching `test`; rejects after `timeoutMs`. */
  async waitFor(test: (m: SippTraceEntry) => boolean, timeoutMs: number, what: string): Promise<SippTraceEntry> {
    const deadline = Date.now() + timeoutMs
    for (;;) {
      const found = this.received().find(test)
      if (found !== undefined) return found
      if (Date.now() > deadline) throw new Error(`${this.#name}: no ${what} within ${timeoutMs} ms; received: ${this.received().map((m) => m.text.split('\n')[0]).join(' | ') || 'nothing'}`)
      await pause(25)
    }
  }

  /** Resolves with the first MESSAGE whose body matches `text`; rejects after `timeoutMs`. */
  async waitForMessage(text: string | RegExp, timeoutMs = 5_000, after = 0): Promise<{ time: number; text: string }> {
    const deadline = Date.now() + timeoutMs
    const matches = (body: string): boolean => (typeof text === 'string' ? body === text : text.test(body))
    for (;;) {
      const found = this.messages().find((m) => m.time >= after && matches(m.text))
      if (found !== undefined) return found
      if (Date.now() > deadline) throw new Error(`${this.#name}: no MESSAGE ${String(text)} within ${timeoutMs} ms; messages: ${JSON.stringify(this.messages().map((m) => m.text))}`)
      await pause(25)
    }
  }

  /** Stops every sipp of this phone. */
  async stop(): Promise<void> {
    await this.stopAnswering()
    await Promise.all([...this.#runs].map((run) => holding(() => run.kill())))
  }

  /**
   * Runs a UAC scenario to its end. A sipp that sent nothing (it could not bind the port picked
   * free beforehand, or died before its first message) is started once more, on a fresh port
   * when the port was not fixed by the caller.
   */
  async #run(scenario: string, run: { remote: string; port: number; trace: string; timeoutSec: number; args: string[]; freshPort?: boolean }): Promise<SipOutcome> {
    const first = await this.#runOnce(scenario, run)
    if (first.trace.some((m) => m.direction === 'sent')) return first
    return this.#runOnce(scenario, { ...run, trace: `${run.trace}.retry`, port: run.freshPort === true ? await freePort() : run.port })
  }

  async #runOnce(scenario: string, run: { remote: string; port: number; trace: string; timeoutSec: number; args: string[] }): Promise<SipOutcome> {
    const args = [
      run.remote,
      '-sf', isAbsolute(scenario) ? scenario : join(SIPP_FIXTURES, scenario),
      '-i', '127.0.0.1', '-p', String(run.port), '-mp', String(await freeUdpPortRange()),
      '-t', 'u1', '-m', '1', '-nostdin',
      '-timeout', `${run.timeoutSec}s`, '-timeout_error',
      '-trace_msg', '-message_file', run.trace,
      ...run.args,
    ]
    const child = await TetheredProcess.spawn('sipp', args, { cwd: this.#dir })
    this.#runs.add(child)
    let output = ''
    for (const stream of [child.stdout, child.stderr]) {
      stream.setEncoding('utf8')
      stream.on('data', (chunk: string) => (output = (output + chunk).slice(-6_000)))
    }
    const exit = await holding(() => child.exited)
    this.#runs.delete(child)
    let text = ''
    try {
      text = await readFile(run.trace, 'utf8')
    } catch {
      // sipp failed before writing anything
    }
    const trace = parseSippTrace(text)
    const finals = trace.filter((m) => m.direction === 'received' && m.status !== undefined && m.status >= 200 && m.cseqMethod !== 'BYE' && m.cseqMethod !== 'ACK')
    const final = finals.at(-1)
    const errorLines = output.split('\n').filter((l) => /error|unable|aborted|unexpected/i.test(l)).slice(-5).join('\n')
    if (exit.code === null) output = `sipp ended by ${exit.signal ?? 'an unknown signal'}; ${output}`
    return { code: exit.code, status: final?.status, reason: final?.reason, final, finalAt: final?.time, trace, output: errorLines || output.slice(-800) }
  }
}

/** What a REGISTER (or any sipp UAC run) got. */
export interface SipOutcome {
  /** sipp's exit code (0: the dialogue went as the scenario expects). */
  code: number | null
  /** The last final response (to the INVITE/REGISTER), if any. */
  status: number | undefined
  reason: string | undefined
  final: SippTraceEntry | undefined
  /** When the final response arrived (ms since the epoch). */
  finalAt: number | undefined
  /** Every message sent and received. */
  trace: SippTraceEntry[]
  /** sipp's error lines (for failure messages). */
  output: string
}

/** What a {@link Phone.dial} got. */
export interface CallOutcome extends SipOutcome {
  /** Date.now() when the sipp run was started. */
  started: number
  /** When the first INVITE left, and the last (after the 407). */
  invitedAt: number | undefined
  lastInviteAt: number | undefined
  callId: string
  answered: boolean
}

/** `${status} ${reason}` of an outcome, for assertions and messages. */
export function statusLine(outcome: SipOutcome): string {
  return outcome.status === undefined ? `no final response (sipp exit ${outcome.code}: ${outcome.output})` : `${outcome.status} ${outcome.reason ?? ''}`.trim()
}

// --- helpers ----------------------------------------------------------------------------

/** Device ids of a site: the first three letters of its id, e.g. ams-desk-1. */
export function devicePrefix(siteId: string): string {
  return siteId.slice(0, 3)
}

/** Two flex desks and a fixed phone per site; extensions 2<n>01..2<n>03 for the n-th site. */
function seededDevices(siteId: string, index: number): SeededDevice[] {
  const prefix = devicePrefix(siteId)
  const password = (): string => `pw-${randomBytes(9).toString('base64url')}`
  return [
    { id: `${prefix}-desk-1`, siteId, extension: `2${index + 1}01`, label: 'desk-1', flexHost: true, password: password() },
    { id: `${prefix}-desk-2`, siteId, extension: `2${index + 1}02`, label: 'desk-2', flexHost: true, password: password() },
    { id: `${prefix}-fixed`, siteId, extension: `2${index + 1}03`, label: 'reception', flexHost: false, password: password() },
  ]
}

async function startEngine(siteId: string, secret: string, timeoutMs: number, cleanups: (() => Promise<unknown>)[], env?: Record<string, string>): Promise<{ process: TetheredProcess; sipPort: number; controlPort: number; text: string[] }> {
  if (onRealDrachtio()) {
    for (let attempt = 1; ; attempt += 1) {
      const started = await startDrachtioServer(siteId, secret, timeoutMs, cleanups)
      if (started !== undefined || attempt >= 3) {
        if (started === undefined) throw new Error(`drachtio-server of ${siteId} could not bind the ports probed free, three times`)
        return started
      }
    }
  }
  if (!existsSync(ENGINE_MAIN)) throw new Error(`${ENGINE_MAIN} is missing: npm run build`)
  // Scanners dropped as the simulation's engine does for a site that says nothing (sip_security.drop_scanners is on by default).
  const dropScanners = dropScannerArgs({})
  const child = await TetheredProcess.spawn(process.execPath, [...EMBEDDED_ENGINE_NODE_FLAGS, ENGINE_MAIN, '--contact', 'sip:127.0.0.1:0;transport=udp,tcp', '--address', '127.0.0.1', '--port', '0', '--secret', secret, '--loglevel', 'warning', ...dropScanners], { cwd: REPO_ROOT, ...(env === undefined ? {} : { env: { ...process.env, ...env } }) })
  cleanups.push(() => holding(() => child.stop(2_000)))
  const text: string[] = []
  let listening: { control: { port: number }; sip: { transport: string; port: number }[] } | undefined
  collectLines(child, (line) => {
    if (listening === undefined && line.includes('"event":"listening"')) listening = JSON.parse(line) as typeof listening
    else pushCapped(text, line)
  })
  const deadline = Date.now() + timeoutMs
  while (listening === undefined) {
    if (!child.running) throw new Error(`the engine of ${siteId} exited: ${text.slice(-10).join('\n')}`)
    if (Date.now() > deadline) throw new Error(`the engine of ${siteId} did not print its listening line`)
    await pause(20)
  }
  const udp = listening.sip.find((s) => s.transport === 'udp') ?? listening.sip[0]!
  return { process: child, sipPort: udp.port, controlPort: listening.control.port, text }
}

/**
 * drachtio-server on ports probed free (it cannot report ephemeral ones); undefined when it exited
 * before its SIP stack ran (a port was taken meanwhile: the caller tries other ports). Its log
 * (every SIP message, at `--loglevel info`) goes to the branch's `engineText`.
 */
async function startDrachtioServer(siteId: string, secret: string, timeoutMs: number, cleanups: (() => Promise<unknown>)[]): Promise<{ process: TetheredProcess; sipPort: number; controlPort: number; text: string[] } | undefined> {
  const [sipPort, controlPort] = [await freePort(), await freePort()]
  const child = await TetheredProcess.spawn(requireDrachtioServerBin(), drachtioServerArgs({ sipPort, controlPort, secret }), { cwd: REPO_ROOT })
  cleanups.push(() => holding(() => child.stop(2_000)))
  const text: string[] = []
  let ready = false
  collectLines(child, (line) => {
    if (line.includes(DRACHTIO_READY_LINE)) ready = true
    pushCapped(text, line)
  })
  const deadline = Date.now() + timeoutMs
  while (!ready) {
    if (!child.running) return undefined
    if (Date.now() > deadline) throw new Error(`drachtio-server of ${siteId} did not start its SIP stack: ${text.slice(-10).join('\n')}`)
    await pause(20)
  }
  return { process: child, sipPort, controlPort, text }
}

async function writeSiteFile(
  siteId: string,
  sitesDir: string,
  addresses: { sipPort: number; controlPort: number; registryListen: string; carrierUri: string | undefined; patch?: BranchesOptions['sitePatch'] },
): Promise<SiteFile> {
  const target = join(sitesDir, `${siteId}.yaml`)
  await copyFile(join(REPO_ROOT, 'sites', `${siteId}.yaml`), target)
  let file: SiteFile | undefined
  await patchSiteFile(target, (doc) => {
    doc.setIn(['registry', 'listen'], addresses.registryListen)
    doc.setIn(['sip', 'contact'], `sip:127.0.0.1:${addresses.sipPort};transport=udp,tcp`)
    doc.setIn(['sip', 'control'], `127.0.0.1:${addresses.controlPort}`)
    doc.setIn(['sip', 'trunk_uri'], `sip:127.0.0.1:${addresses.sipPort}`)
    if (addresses.carrierUri !== undefined) doc.setIn(['sip', 'carrier_uri'], addresses.carrierUri)
    else doc.deleteIn(['sip', 'carrier_uri'])
    addresses.patch?.(siteId, doc)
    file = {
      id: siteId,
      name: String(doc.get('name')),
      domain: String(doc.getIn(['sip', 'domain'])),
      dispatchableLocation: String(doc.get('dispatchable_location')),
      emergencyNumbers: (doc.toJS() as { emergency_numbers: string[] }).emergency_numbers,
    }
  })
  return file!
}

async function patchSiteFile(file: string, change: (doc: ReturnType<typeof parseDocument>) => void): Promise<void> {
  const doc = parseDocument(await readFile(file, 'utf8'))
  change(doc)
  await writeFile(file, doc.toString())
}

function collectLines(child: TetheredProcess, onLine: (line: string) => void): void {
  for (const stream of [child.stdout, child.stderr]) createInterface({ input: stream, crlfDelay: Infinity }).on('line', onLine)
}

function parseLogLine(line: string): LogLine | undefined {
  if (!line.startsWith('{')) return undefined
  try {
    const parsed = JSON.parse(line) as LogLine
    return typeof parsed.msg === 'string' ? parsed : undefined
  } catch {
    return undefined
  }
}

const LOG_CAP = 20_000

function pushCapped<T>(list: T[], item: T): void {
  list.push(item)
  if (list.length > LOG_CAP) list.splice(0, list.length - LOG_CAP)
}

/** Retries a call that may fail while the cluster settles (leader election, site bootstrap). */
async function retrying<T>(call: () => Promise<T>, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    try {
      return await call()
    } catch (error) {
      // ALREADY_EXISTS on a retried create means the first attempt won: idempotent request ids
      // make the retry return the first outcome, anything else is worth another try.
      if (Date.now() > deadline) throw error
      await pause(100)
    }
  }
}

/**
 * Polling interval only: every wait here has a deadline and checks a condition. Ref'd on
 * purpose: tethered children are unref'd, so a timer is what keeps the test process alive.
 */
export function pause(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}

/** Runs `work` with the event loop held open (waiting on unref'd children alone would not). */
async function holding<T>(work: () => Promise<T>): Promise<T> {
  const keep = setInterval(() => undefined, 1_000)
  try {
    return await work()
  } finally {
    clearInterval(keep)
  }
}
