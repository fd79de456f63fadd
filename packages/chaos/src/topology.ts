import { createHash, randomBytes } from 'node:crypto'
import { existsSync } from 'node:fs'
import { copyFile, mkdir, readFile, writeFile } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { credentials } from '@grpc/grpc-js'
import { parseDocument } from 'yaml'
import { bearer, ClusterServiceClient, type Device, DirectoryServiceClient, SeatServiceClient, unary, User } from '@flexseat/proto'
import { dropScannerArgs, EMBEDDED_ENGINE_NODE_FLAGS, EtcdCluster, type EtcdMemberSpec, freePorts, type RelayConditions, TetheredProcess, type WanRelayOptions } from '@flexseat/sim'
import { ChaosError } from './errors'
import { BranchClock } from './branch-clock'
import { pause, ProcessOutput } from './process-output'
import { RelayHost } from './relay-host'

/** Root of the repository (this file runs as packages/chaos/dist/topology.js). */
export const REPO_ROOT = resolve(__dirname, '..', '..', '..')
const REGISTRY_MAIN = join(REPO_ROOT, 'packages', 'registry', 'dist', 'main.js')
const ENGINE_MAIN = join(REPO_ROOT, 'packages', 'sip-engine', 'dist', 'main.js')
const SIP_NODE_MAIN = join(REPO_ROOT, 'packages', 'sip-node', 'dist', 'main.js')

/** One way of the simulated WAN between two branches (and between a branch and a remote etcd member). */
export interface WanConditions {
  delayMs: number
  jitterMs: number
  /** UDP only (the SIP trunk): share of datagrams lost, in percent. */
  lossPercent: number
}

/** Options of {@link ChaosCluster.start}. */
export interface ChaosClusterOptions {
  /** Where the run's work files go (site files, tokens, etcd data, process logs). */
  dir: string
  /** The branches (site ids). Those with a file in sites/ use it; others are made from berlin's. */
  branches: readonly string[]
  /** The WAN between branches, one way (default none). */
  wan?: WanConditions
  /** Seed of the relays' jitter and loss. */
  seed?: number
  /** Workers of the hot set (default 4): extensions 1001.., PINs random. */
  workers?: number
  /** FLEXSEAT_CONFIRMATION_LEASE_SECONDS of the registries (default 5, the registry's own). */
  confirmationLeaseSeconds?: number
  /** FLEXSEAT_LEASE_TTL_SECONDS of the registries' leadership (default 3). */
  leaseTtlSeconds?: number
  /** FLEXSEAT_MOVE_ETCD_LEADER of the registries (default true, as in the simulation). */
  moveEtcdLeader?: boolean
  /** Branches whose registry, engine and node run under libfaketime (their clock can be stepped). */
  clockBranches?: readonly string[]
  /** FLEXSEAT_LOG_LEVEL of the registries and nodes (default `info`). */
  logLevel?: string
  /** Deadline of each start step (default 30 000 ms). */
  startTimeoutMs?: number
}

/** A seeded desk or phone. */
export interface ChaosDevice {
  id: string
  siteId: string
  extension: string
  label: string
  flexHost: boolean
  password: string
  /** `sip-desk`: a phone that signs workers in and out with `*51`; `grpc-desk`: workers are sat there over gRPC (a phone answers there); `caller`: a fixed phone that calls the workers. */
  role: 'sip-desk' | 'grpc-desk' | 'caller'
}

/** A worker of the hot set. */
export interface ChaosWorker {
  id: string
  extension: string
  pin: string
  homeSiteId: string
}

/** One branch: its processes, its WAN and its devices. */
export interface ChaosBranch {
  readonly id: string
  readonly index: number
  readonly name: string
  readonly domain: string
  readonly registryAddress: string
  registry: TetheredProcess | undefined
  readonly registryOut: ProcessOutput
  readonly engine: TetheredProcess
  readonly sipPort: number
  readonly engineOut: ProcessOutput
  node: TetheredProcess | undefined
  readonly nodeOut: ProcessOutput
  /**
   * Its registry's etcd endpoints: its route to the member beside it (branches 1-3; relay
   * `local:<site>`, no delay) and its WAN relay's routes to the remote members (`wan:<site>`,
   * which also carries the other nodes' trunk calls into it).
   */
  readonly etcdEndpoints: readonly string[]
  /** Where its SIP node reaches its registry: through relay `uplink:<site>` (no delay; cut with the branch). */
  readonly nodeRegistryAddress: string
  readonly devices: readonly ChaosDevice[]
  /** The stepped clock of its processes (undefined: the real clock). */
  readonly clock: BranchClock | undefined
}

/**
 * The multi-site system as processes on this machine, for the chaos runner: a 3-member etcd
 * cluster whose peer traffic crosses a delaying relay, and per branch a registry, an embedded SIP
 * engine and a SIP node. Each branch reaches the etcd members through its own WAN relay
 * (the member at its own site undelayed), and the other branches' nodes reach its SIP trunk
 * through it too: cutting that relay cuts the branch off; changing its conditions changes the WAN.
 */
export class ChaosCluster {
  readonly etcd: EtcdCluster
  /** The WAN relays (`peers`: in front of each member's peer port; `wan:<site>`, `local:<site>` per branch). */
  readonly relays: RelayHost
  readonly prefix: string
  readonly branches: readonly ChaosBranch[]
  readonly workers: readonly ChaosWorker[]
  readonly sitesDir: string
  readonly #dir: string
  readonly #options: ChaosClusterOptions
  readonly #adminToken: string
  readonly #clusterToken: string
  readonly #tokensFile: string
  readonly #trunkSecretFile: string
  readonly #drachtioSecret: string
  readonly #clients = new Map<string, { seat: SeatServiceClient; directory: DirectoryServiceClient; cluster: ClusterServiceClient }>()
  #wan: WanConditions
  #stopped = false

  private constructor(init: {
    etcd: EtcdCluster
    relays: RelayHost
    branches: ChaosBranch[]
    workers: ChaosWorker[]
    dir: string
    sitesDir: string
    options: ChaosClusterOptions
    adminToken: string
    clusterToken: string
    tokensFile: string
    trunkSecretFile: string
    drachtioSecret: string
    prefix: string
  }) {
    this.etcd = init.etcd
    this.relays = init.relays
    this.branches = init.branches
    this.workers = init.workers
    this.#dir = init.dir
    this.sitesDir = init.sitesDir
    this.#options = init.options
    this.#adminToken = init.adminToken
    this.#clusterToken = init.clusterToken
    this.#tokensFile = init.tokensFile
    this.#trunkSecretFile = init.trunkSecretFile
    this.#drachtioSecret = init.drachtioSecret
    this.prefix = init.prefix
    this.#wan = init.options.wan ?? { delayMs: 0, jitterMs: 0, lossPercent: 0 }
  }

  /**
   * Starts everything: relays, etcd, engines, registries, the seed (devices and the hot set of
   * workers), then the nodes; resolves once every node's confirmation lease is active. Whatever
   * was started is stopped again when a step fails (and by {@link stop} otherwise).
   */
  static async start(options: ChaosClusterOptions): Promise<ChaosCluster> {
    const timeoutMs = options.startTimeoutMs ?? 30_000
    const work = options.dir
    const sitesDir = join(work, 'sites')
    const logs = join(work, 'logs')
    await mkdir(sitesDir, { recursive: true })
    await mkdir(logs, { recursive: true })
    const wan = options.wan ?? { delayMs: 0, jitterMs: 0, lossPercent: 0 }
    const seed = options.seed ?? 1
    const cleanups: (() => Promise<unknown>)[] = []
    const undo = async (): Promise<void> => {
      for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined)
    }
    try {
      // 2. Secrets and the tokens file.
      const adminToken = randomBytes(24).toString('hex')
      const clusterToken = randomBytes(24).toString('hex')
      const siteTokens = Object.fromEntries(options.branches.map((site) => [site, randomBytes(24).toString('hex')]))
      const sha = (token: string): string => createHash('sha256').update(token).digest('hex')
      const tokensFile = join(work, 'tokens.yaml')
      await writeFile(
        tokensFile,
        [
          'tokens:',
          `  - name: chaos-admin`, '    role: admin', `    sha256: ${sha(adminToken)}`,
          `  - name: chaos-registry`, '    role: registry', `    sha256: ${sha(clusterToken)}`,
          ...Object.entries(siteTokens).flatMap(([site, token]) => [`  - name: chaos-sip-node-${site}`, '    role: sip-node', `    site: ${site}`, `    sha256: ${sha(token)}`]),
          '',
        ].join('\n'),
        { mode: 0o600 },
      )
      for (const [site, token] of Object.entries(siteTokens)) await writeFile(join(work, `sip-node-${site}.token`), `${token}\n`, { mode: 0o600 })
      const trunkSecretFile = join(work, 'trunk.secret')
      await writeFile(trunkSecretFile, `${randomBytes(24).toString('hex')}\n`, { mode: 0o600 })
      const drachtioSecret = randomBytes(8).toString('hex')
      const prefix = `chaos-${randomBytes(6).toString('hex')}/`

      // 1. Per branch: the clock and the engine (it chooses its ports and prints them).
      const etcdPorts = await freePorts(6)
      const oneWay = conditionsOf(wan)
      const clockBranches = new Set(options.clockBranches ?? [])
      const engines: { clock: BranchClock | undefined; out: ProcessOutput; process: TetheredProcess; sipPort: number; controlPort: number }[] = []
      for (const siteId of options.branches) {
        const clock = clockBranches.has(siteId) ? await BranchClock.create(join(work, `clock-${siteId}`)) : undefined
        const out = new ProcessOutput(join(logs, `engine-${siteId}.log`))
        const engine = await startEngine(drachtioSecret, out, clock, timeoutMs)
        cleanups.push(() => engine.process.stop(2_000))
        engines.push({ clock, out, ...engine })
      }

      // 2. The WAN, in a process of its own: the relay in front of each etcd member's peer port
      //    (raft traffic), and per branch its WAN (its registry → the remote members; the other
      //    nodes' trunk calls → its engine) and its route to the member beside it (no delay).
      const registryPorts = await freePorts(options.branches.length)
      const tcp = (port: number) => ({ protocol: 'tcp' as const, listen: { host: '127.0.0.1', port: 0 }, target: { host: '127.0.0.1', port } })
      const remoteOf = (index: number): number[] => [0, 1, 2].filter((i) => i !== index)
      const specs: Record<string, WanRelayOptions> = { peers: { routes: [0, 1, 2].map((i) => tcp(etcdPorts[2 * i + 1]!)), up: oneWay, down: oneWay, seed } }
      for (const [index, siteId] of options.branches.entries()) {
        specs[`wan:${siteId}`] = {
          routes: [...remoteOf(index).map((i) => tcp(etcdPorts[2 * i]!)), { protocol: 'udp', listen: { host: '127.0.0.1', port: 0 }, target: { host: '127.0.0.1', port: engines[index]!.sipPort } }],
          up: oneWay,
          down: oneWay,
          seed: seed + index + 1,
        }
        if (index < 3) specs[`local:${siteId}`] = { routes: [tcp(etcdPorts[2 * index]!)] }
        // The node's way to its registry: undelayed, but cut with the branch (a follower registry
        // forwards to the leader directly, so cutting its etcd routes alone would leave the
        // node's lease renewals a way out).
        specs[`uplink:${siteId}`] = { routes: [tcp(registryPorts[index]!)] }
      }
      const relays = await RelayHost.start(specs, new ProcessOutput(join(logs, 'relays.log')), timeoutMs)
      cleanups.push(() => relays.stop())

      // 3. etcd: three members, each advertising its peer relay route.
      const members: EtcdMemberSpec[] = [0, 1, 2].map((i) => ({
        name: `etcd-${i}`,
        clientUrl: `http://127.0.0.1:${etcdPorts[2 * i]}`,
        peerUrl: `http://127.0.0.1:${etcdPorts[2 * i + 1]}`,
        advertisePeerUrl: `http://127.0.0.1:${relays.address('peers', i).port}`,
      }))
      const etcdOut = new ProcessOutput(join(logs, 'etcd.log'))
      const etcd = await EtcdCluster.start({ members, dataDir: join(work, 'etcd'), fresh: true, startTimeoutMs: timeoutMs, onLog: (member, line) => etcdOut.add(`${member} ${line}`) })
      cleanups.push(() => etcd.stop())

      // 4. Per branch: the site file (its trunk reached through its WAN relay).
      const branches: ChaosBranch[] = []
      for (const [index, siteId] of options.branches.entries()) {
        const engine = engines[index]!
        const file = await writeSiteFile(siteId, index, sitesDir, {
          registryListen: `127.0.0.1:${registryPorts[index]}`,
          sipPort: engine.sipPort,
          controlPort: engine.controlPort,
          trunkPort: relays.address(`wan:${siteId}`, remoteOf(index).length).port,
          member: members[index % members.length]!,
        })
        branches.push({
          id: siteId,
          index,
          name: file.name,
          domain: file.domain,
          registryAddress: `127.0.0.1:${registryPorts[index]}`,
          registry: undefined,
          registryOut: new ProcessOutput(join(logs, `registry-${siteId}.log`)),
          engine: engine.process,
          sipPort: engine.sipPort,
          engineOut: engine.out,
          node: undefined,
          // Kept for the figures: when the node lost and regained its confirmation lease (the runner's clock).
          nodeOut: new ProcessOutput(join(logs, `node-${siteId}.log`), (json) => json['msg'] === 'lease suspended' || json['msg'] === 'lease active'),
          nodeRegistryAddress: `127.0.0.1:${relays.address(`uplink:${siteId}`, 0).port}`,
          etcdEndpoints: [
            ...(index < 3 ? [`http://127.0.0.1:${relays.address(`local:${siteId}`, 0).port}`] : []),
            ...remoteOf(index).map((_, route) => `http://127.0.0.1:${relays.address(`wan:${siteId}`, route).port}`),
          ],
          devices: devicesOf(siteId, index),
          clock: engine.clock,
        })
      }
      const workers = Array.from({ length: options.workers ?? 4 }, (_, i): ChaosWorker => ({
        id: `w${1001 + i}`,
        extension: String(1001 + i),
        pin: String(1000 + Math.floor(Math.random() * 9000)),
        homeSiteId: options.branches[i % options.branches.length]!,
      }))
      const cluster = new ChaosCluster({ etcd, relays, branches, workers, dir: work, sitesDir, options, adminToken, clusterToken, tokensFile, trunkSecretFile, drachtioSecret, prefix })
      cleanups.length = 0
      try {
        // 4. Registries, 5. the seed, 6. the nodes (they load the directory when they start).
        await Promise.all(branches.map((branch) => cluster.startRegistry(branch.id)))
        await cluster.#seed(timeoutMs)
        await Promise.all(branches.map((branch) => cluster.startNode(branch.id)))
      } catch (error) {
        await cluster.stop()
        throw error
      }
      return cluster
    } catch (error) {
      await undo()
      throw error
    }
  }

  /** The branch `siteId`. */
  branch(siteId: string): ChaosBranch {
    const branch = this.branches.find((b) => b.id === siteId)
    if (branch === undefined) throw new ChaosError('BAD_OPTION', `no branch ${siteId}`)
    return branch
  }

  /** Admin metadata (bearer token) for the registry's API. */
  get adminMetadata(): ReturnType<typeof bearer> {
    return bearer(this.#adminToken)
  }

  /** gRPC clients of `siteId`'s registry (cached: the registry keeps its address across restarts). */
  clients(siteId: string): { seat: SeatServiceClient; directory: DirectoryServiceClient; cluster: ClusterServiceClient } {
    let clients = this.#clients.get(siteId)
    if (clients === undefined) {
      const address = this.branch(siteId).registryAddress
      const channel = credentials.createInsecure()
      // Reconnect quickly after a registry restart: the workload measures time to first success.
      const channelOptions = { 'grpc.initial_reconnect_backoff_ms': 100, 'grpc.max_reconnect_backoff_ms': 1_000 }
      clients = {
        seat: new SeatServiceClient(address, channel, channelOptions),
        directory: new DirectoryServiceClient(address, channel, channelOptions),
        cluster: new ClusterServiceClient(address, channel, channelOptions),
      }
      this.#clients.set(siteId, clients)
    }
    return clients
  }

  /** A new seat client of `siteId`'s registry on a channel of its own (a watcher's). */
  seatClient(siteId: string): SeatServiceClient {
    return new SeatServiceClient(this.branch(siteId).registryAddress, credentials.createInsecure(), { 'grpc.initial_reconnect_backoff_ms': 100, 'grpc.max_reconnect_backoff_ms': 1_000 })
  }

  /** The branch whose registry leads, as the first live registry that knows says (undefined: none within `timeoutMs`). */
  async registryLeader(timeoutMs = 10_000): Promise<string | undefined> {
    const deadline = Date.now() + timeoutMs
    while (Date.now() < deadline) {
      for (const branch of this.branches) {
        if (branch.registry?.running !== true) continue
        const { cluster } = this.clients(branch.id)
        const status = await unary(cluster.getClusterStatus.bind(cluster), {}, { metadata: this.adminMetadata, timeoutMs: 3_000 }).catch(() => undefined)
        const leader = status?.leader?.siteId
        if (leader !== undefined && leader !== '' && this.branches.some((b) => b.id === leader && b.registry?.running === true)) return leader
      }
      await pause(100)
    }
    return undefined
  }

  /** The name of the etcd member that leads (undefined: none answers within `timeoutMs`). */
  async etcdLeader(timeoutMs = 10_000): Promise<string | undefined> {
    const deadline = Date.now() + timeoutMs
    while (Date.now() < deadline) {
      const statuses = await Promise.all(this.etcd.members.map((m) => memberStatus(m.clientUrl)))
      const leaderId = statuses.find((s) => s !== undefined && s.leader !== '0')?.leader
      const index = statuses.findIndex((s) => s !== undefined && s.memberId === leaderId)
      if (leaderId !== undefined && index >= 0) return this.etcd.members[index]!.name
      await pause(100)
    }
    return undefined
  }

  /** The etcd cluster's current revision (from the first member that answers). */
  async etcdRevision(): Promise<number> {
    for (let attempt = 0; attempt < 50; attempt++) {
      for (const member of this.etcd.members) {
        if (member.process?.running !== true) continue
        const status = await memberStatus(member.clientUrl)
        if (status !== undefined) return status.revision
      }
      await pause(200)
    }
    throw new ChaosError('CLUSTER_FAILED', 'no etcd member answered its status')
  }

  // --- processes ----------------------------------------------------------------------------

  /** Starts `siteId`'s registry (again, on the same address); resolves once it listens. */
  async startRegistry(siteId: string): Promise<void> {
    const branch = this.branch(siteId)
    if (branch.registry?.running === true) throw new ChaosError('BAD_OPTION', `the registry of ${siteId} runs already`)
    const endpoints = branch.etcdEndpoints
    const env: NodeJS.ProcessEnv = {
      ...inheritedEnv(),
      ...branch.clock?.env,
      FLEXSEAT_ETCD_ENDPOINTS: endpoints.join(','),
      ...this.etcd.registryEnv,
      FLEXSEAT_ETCD_PREFIX: this.prefix,
      FLEXSEAT_REGISTRY_LISTEN: branch.registryAddress,
      FLEXSEAT_TOKENS_FILE: this.#tokensFile,
      FLEXSEAT_CLUSTER_TOKEN: this.#clusterToken,
      FLEXSEAT_LEASE_TTL_SECONDS: String(this.#options.leaseTtlSeconds ?? 3),
      FLEXSEAT_CONFIRMATION_LEASE_SECONDS: String(this.#options.confirmationLeaseSeconds ?? 5),
      FLEXSEAT_MOVE_ETCD_LEADER: String(this.#options.moveEtcdLeader ?? true),
      FLEXSEAT_LOG_LEVEL: this.#options.logLevel ?? 'info',
    }
    const since = branch.registryOut.mark()
    const child = await TetheredProcess.spawn(process.execPath, [REGISTRY_MAIN, '--site', siteId, '--sites-dir', this.sitesDir], { cwd: REPO_ROOT, env })
    branch.registry = child
    branch.registryOut.follow(child)
    await branch.registryOut.waitFor('registry listening', { since, timeoutMs: this.#options.startTimeoutMs ?? 30_000, gaveUp: () => (child.running ? undefined : `the registry of ${siteId} exited`) })
  }

  /** Kills `siteId`'s registry with SIGKILL. */
  async killRegistry(siteId: string): Promise<void> {
    const branch = this.branch(siteId)
    await holding(async () => branch.registry?.kill())
    branch.registry = undefined
  }

  /** Starts `siteId`'s SIP node (again) and resolves once its confirmation lease is active. */
  async startNode(siteId: string, options: { waitForLease?: boolean } = {}): Promise<void> {
    const branch = this.branch(siteId)
    if (branch.node?.running === true) throw new ChaosError('BAD_OPTION', `the node of ${siteId} runs already`)
    const stateDir = join(this.#dir, `node-state-${siteId}`)
    await mkdir(stateDir, { recursive: true })
    const env: NodeJS.ProcessEnv = {
      ...inheritedEnv(),
      ...branch.clock?.env,
      FLEXSEAT_REGISTRY_ADDRESSES: branch.nodeRegistryAddress,
      FLEXSEAT_SIP_NODE_TOKEN_FILE: join(this.#dir, `sip-node-${siteId}.token`),
      FLEXSEAT_TRUNK_SECRET_FILE: this.#trunkSecretFile,
      FLEXSEAT_DRACHTIO_SECRET: this.#drachtioSecret,
      FLEXSEAT_SIP_NODE_STATE_DIR: stateDir,
      FLEXSEAT_LOG_LEVEL: this.#options.logLevel ?? 'info',
    }
    const since = branch.nodeOut.mark()
    const child = await TetheredProcess.spawn(process.execPath, [SIP_NODE_MAIN, '--site', siteId, '--sites-dir', this.sitesDir], { cwd: REPO_ROOT, env })
    branch.node = child
    branch.nodeOut.follow(child)
    const gaveUp = (): string | undefined => (child.running ? undefined : `the SIP node of ${siteId} exited`)
    const timeoutMs = this.#options.startTimeoutMs ?? 30_000
    await branch.nodeOut.waitFor('sip node ready', { since, timeoutMs, gaveUp })
    if (options.waitForLease !== false) await branch.nodeOut.waitFor('lease active', { since, timeoutMs, gaveUp })
  }

  /** Kills `siteId`'s SIP node with SIGKILL. */
  async killNode(siteId: string): Promise<void> {
    const branch = this.branch(siteId)
    await holding(async () => branch.node?.kill())
    branch.node = undefined
  }

  /** The WAN conditions now in force between branches. */
  get wanConditions(): WanConditions {
    return { ...this.#wan }
  }

  /** Changes the WAN between branches (every branch relay and the etcd peer relay), from now on. */
  async setWan(conditions: WanConditions): Promise<void> {
    const oneWay = conditionsOf(conditions)
    await Promise.all([...this.branches.map((branch) => this.relays.setConditions(`wan:${branch.id}`, { up: oneWay, down: oneWay })), this.relays.setConditions('peers', { up: oneWay, down: oneWay })])
    this.#wan = { ...conditions }
  }

  /** Cuts `siteId` off: its registry reaches no etcd member, its node not its registry, the other branches' trunk calls do not reach it. */
  async cutBranch(siteId: string): Promise<void> {
    const branch = this.branch(siteId)
    await Promise.all([this.relays.cut(`wan:${siteId}`), this.relays.cut(`uplink:${siteId}`), ...(branch.index < 3 ? [this.relays.cut(`local:${siteId}`)] : [])])
  }

  async healBranch(siteId: string): Promise<void> {
    const branch = this.branch(siteId)
    await Promise.all([this.relays.heal(`wan:${siteId}`), this.relays.heal(`uplink:${siteId}`), ...(branch.index < 3 ? [this.relays.heal(`local:${siteId}`)] : [])])
  }

  /** Stops everything (nodes, engines, registries, relays, etcd). Idempotent. */
  async stop(): Promise<void> {
    if (this.#stopped) return
    this.#stopped = true
    await holding(async () => {
      for (const clients of this.#clients.values()) {
        clients.seat.close()
        clients.directory.close()
        clients.cluster.close()
      }
      await Promise.all(this.branches.map((b) => b.node?.stop(2_000).catch(() => undefined)))
      await Promise.all(this.branches.map((b) => b.engine.stop(2_000).catch(() => undefined)))
      await Promise.all(this.branches.map((b) => b.registry?.stop(3_000).catch(() => undefined)))
      for (const branch of this.branches) {
        branch.registry = undefined
        branch.node = undefined
        for (const out of [branch.registryOut, branch.nodeOut, branch.engineOut]) await out.close()
      }
      await this.etcd.stop().catch(() => undefined)
      await this.relays.stop().catch(() => undefined)
    })
  }

  async #seed(timeoutMs: number): Promise<void> {
    const first = this.branches[0]!.id
    const { directory } = this.clients(first)
    const metadata = this.adminMetadata
    for (const branch of this.branches) {
      await retrying(() => unary(directory.getSite.bind(directory), { siteId: branch.id }, { metadata, timeoutMs: 2_000 }), timeoutMs)
    }
    for (const device of this.branches.flatMap((b) => b.devices)) {
      const record: Device = { id: device.id, siteId: device.siteId, extension: device.extension, label: device.label, model: 'sipp', flexHost: device.flexHost, revision: '0', sipPassword: device.password }
      await retrying(() => unary(directory.createDevice.bind(directory), { requestId: `seed-${device.id}`, device: record }, { metadata, timeoutMs: 5_000 }), timeoutMs)
    }
    for (const worker of this.workers) {
      const user = User.fromPartial({ id: worker.id, extension: worker.extension, displayName: `Worker ${worker.extension}`, homeSiteId: worker.homeSiteId, roamingAllowed: true })
      await retrying(() => unary(directory.createUser.bind(directory), { requestId: `seed-${worker.id}`, user, pin: worker.pin }, { metadata, timeoutMs: 5_000 }), timeoutMs)
    }
  }
}

/** Per branch: two desks that sign in with `*51`, one desk workers are sat at over gRPC, one fixed phone that calls. */
function devicesOf(siteId: string, index: number): ChaosDevice[] {
  const password = (): string => `pw-${randomBytes(9).toString('base64url')}`
  const ext = (slot: number): string => `5${String(index).padStart(2, '0')}${slot}`
  return [
    { id: `${siteId}-desk-1`, siteId, extension: ext(1), label: 'desk-1', flexHost: true, password: password(), role: 'sip-desk' },
    { id: `${siteId}-desk-2`, siteId, extension: ext(2), label: 'desk-2', flexHost: true, password: password(), role: 'sip-desk' },
    { id: `${siteId}-desk-3`, siteId, extension: ext(3), label: 'desk-3', flexHost: true, password: password(), role: 'grpc-desk' },
    { id: `${siteId}-fixed`, siteId, extension: ext(4), label: 'reception', flexHost: false, password: password(), role: 'caller' },
  ]
}

async function startEngine(secret: string, out: ProcessOutput, clock: BranchClock | undefined, timeoutMs: number): Promise<{ process: TetheredProcess; sipPort: number; controlPort: number }> {
  if (!existsSync(ENGINE_MAIN)) throw new ChaosError('CLUSTER_FAILED', `${ENGINE_MAIN} is missing: npm run build`)
  const args = [...EMBEDDED_ENGINE_NODE_FLAGS, ENGINE_MAIN, '--contact', 'sip:127.0.0.1:0;transport=udp,tcp', '--address', '127.0.0.1', '--port', '0', '--loglevel', 'warning', ...dropScannerArgs({})]
  const child = await TetheredProcess.spawn(process.execPath, args, { cwd: REPO_ROOT, env: { ...inheritedEnv(), ...clock?.env, DRACHTIO_SECRET: secret } })
  out.follow(child)
  const line = await out
    .waitFor((json) => json['event'] === 'listening', { since: 0, timeoutMs, gaveUp: () => (child.running ? undefined : 'the engine exited') })
    .catch(async (error: unknown) => {
      await child.stop(1_000)
      throw new ChaosError('CLUSTER_FAILED', `the SIP engine did not start: ${(error as Error).message}`)
    })
  const listening = line as unknown as { control: { port: number }; sip: { transport: string; port: number }[] }
  const udp = listening.sip.find((s) => s.transport === 'udp') ?? listening.sip[0]!
  return { process: child, sipPort: udp.port, controlPort: listening.control.port }
}

async function writeSiteFile(siteId: string, index: number, sitesDir: string, at: { registryListen: string; sipPort: number; controlPort: number; trunkPort: number; member: EtcdMemberSpec }): Promise<{ name: string; domain: string }> {
  const target = join(sitesDir, `${siteId}.yaml`)
  const own = join(REPO_ROOT, 'sites', `${siteId}.yaml`)
  await copyFile(existsSync(own) ? own : join(REPO_ROOT, 'sites', 'berlin.yaml'), target)
  const doc = parseDocument(await readFile(target, 'utf8'))
  if (!existsSync(own)) {
    doc.set('id', siteId)
    doc.set('name', `Branch ${index + 1}`)
    doc.setIn(['sip', 'domain'], `${siteId}.flexseat.test`)
  }
  // The registries get FLEXSEAT_ETCD_ENDPOINTS (through the relays); the section names the member the branch stands beside.
  doc.setIn(['etcd', 'name'], `etcd-${siteId}`)
  doc.setIn(['etcd', 'client_url'], at.member.clientUrl)
  doc.setIn(['etcd', 'peer_url'], at.member.peerUrl)
  doc.setIn(['registry', 'listen'], at.registryListen)
  doc.setIn(['sip', 'contact'], `sip:127.0.0.1:${at.sipPort};transport=udp,tcp`)
  doc.setIn(['sip', 'control'], `127.0.0.1:${at.controlPort}`)
  // The other branches reach this one's node through its WAN relay.
  doc.setIn(['sip', 'trunk_uri'], `sip:127.0.0.1:${at.trunkPort}`)
  doc.deleteIn(['sip', 'carrier_uri'])
  await writeFile(target, doc.toString())
  return { name: String(doc.get('name')), domain: String(doc.getIn(['sip', 'domain'])) }
}

function conditionsOf(wan: WanConditions): RelayConditions {
  return { delayMs: wan.delayMs, jitterMs: wan.jitterMs, lossPercent: wan.lossPercent }
}

/** The parent's environment without FLEXSEAT_* and OTEL_* (each process gets its own). */
function inheritedEnv(): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('FLEXSEAT_') && !name.startsWith('OTEL_') && name !== 'LD_PRELOAD'))
}

/** etcd's maintenance status of one member (its id, the leader's id, the revision), undefined when it does not answer. */
async function memberStatus(clientUrl: string): Promise<{ memberId: string; leader: string; revision: number } | undefined> {
  try {
    const response = await fetch(`${clientUrl}/v3/maintenance/status`, { method: 'POST', body: '{}', signal: AbortSignal.timeout(1_000) })
    const body = (await response.json()) as { header?: { member_id?: string; revision?: string }; leader?: string }
    if (body.header?.member_id === undefined) return undefined
    return { memberId: body.header.member_id, leader: body.leader ?? '0', revision: Number(body.header.revision ?? 0) }
  } catch {
    return undefined
  }
}

async function retrying<T>(call: () => Promise<T>, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    try {
      return await call()
    } catch (error) {
      if (Date.now() > deadline) throw error
      await pause(100)
    }
  }
}

/** Runs `work` with the event loop held open (waiting on unref'd children alone would not). */
export async function holding<T>(work: () => Promise<T>): Promise<T> {
  const keep = setInterval(() => undefined, 1_000)
  try {
    return await work()
  } finally {
    clearInterval(keep)
  }
}
