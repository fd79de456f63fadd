import { mkdir, readFile, rm, writeFile } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { runCheckers } from './checkers'
import { runFigures } from './figures'
import { nemesesOf, type NemesisContext } from './nemesis'
import { phoneLines } from './phone-events'
import { pause } from './process-output'
import { type CallLine, type EtcdInfo, type FaultLine, type HistoryOp, JsonLines, type PhoneLine, type WatchLine } from './records'
import { buildReport, formatHtml, formatText, type Phase, type RunReport } from './report'
import { ChaosCluster, holding, type WanConditions } from './topology'
import { Workload } from './workload'

/** Options of {@link runChaos}; every one has a default (see {@link CHAOS_DEFAULTS}). */
export interface ChaosOptions {
  /** The run's directory (created; its files: packages/chaos/README.md). */
  dir: string
  /** The branches (site ids; those not in sites/ are made from berlin's file). */
  branches: readonly string[]
  /** The fault specs, in order (`a+b` runs a and b at once). Empty: a run without faults. */
  faults: readonly string[]
  /** Total length; the fault list is repeated while it fits (default: one pass). */
  durationMs?: number
  /** The phase before the first fault. */
  baselineMs: number
  /** How long each fault is held (at least what the fault needs, e.g. past a lease). */
  faultMs: number
  /** The phase after each fault. */
  recoveryMs: number
  /**
   * The phase after a fault lasts, beyond `recoveryMs`, until a write invoked after the heal
   * succeeded, at most this long (default 60 s; 0: exactly `recoveryMs`): the next fault does not
   * hit a system still recovering from the last one.
   */
  recoveryMaxMs?: number
  seed: number
  /** Workers in the hot set. */
  workers: number
  /** The WAN between branches throughout (one way). */
  wan: WanConditions
  /** The WAN of the `wan` fault. */
  wanFault: WanConditions
  /** The branch that branch faults hit (default the last one). */
  faultBranch?: string
  clockStepSeconds: number
  confirmationLeaseSeconds: number
  leaseTtlSeconds: number
  /** FLEXSEAT_MOVE_ETCD_LEADER of the registries: the leading one moves etcd's raft leader to its branch's member. */
  moveEtcdLeader: boolean
  /** Mean pause between two operations of one client, in ms. */
  thinkMs: number
  /** Place calls to the workers. */
  calls: boolean
  /** Run the checkers (default true). */
  check: boolean
  /** How long the end of the run waits for operations in flight (default 25 s: a sipp dial gives up after 20 s). */
  drainMs?: number
  /** Progress lines (default: none). */
  log?: (line: string) => void
}

export const CHAOS_DEFAULTS: Omit<ChaosOptions, 'dir'> = {
  branches: ['amsterdam', 'berlin', 'chicago'],
  faults: ['registry-leader-kill', 'registry-leader-pause', 'etcd-leader-kill', 'etcd-follower-pause', 'branch-cut', 'wan', 'sip-node-restart', 'clock-step', 'registry-leader-kill+wan'],
  baselineMs: 8_000,
  faultMs: 8_000,
  recoveryMs: 8_000,
  seed: 1,
  workers: 4,
  wan: { delayMs: 5, jitterMs: 1, lossPercent: 0 },
  wanFault: { delayMs: 50, jitterMs: 20, lossPercent: 5 },
  clockStepSeconds: 30,
  confirmationLeaseSeconds: 5,
  leaseTtlSeconds: 3,
  moveEtcdLeader: true,
  thinkMs: 400,
  calls: true,
  check: true,
}

/** What a run produced. */
export interface ChaosResult {
  dir: string
  report: RunReport
  /** Violations the checkers found (0 when they did not run: see `report.check`). */
  violations: number
}

/**
 * One chaos run: starts the branches ({@link ChaosCluster}), the workload, a phase before any
 * fault, then each fault (held, healed) followed by a recovery phase; writes history.jsonl,
 * watch.jsonl, phones.jsonl, faults.jsonl, calls.jsonl and etcd.json into `dir`, runs the
 * checkers while etcd still runs, writes report.txt, report.html and report.json, and stops
 * every process it started whatever happens.
 */
export async function runChaos(options: ChaosOptions): Promise<ChaosResult> {
  const log = options.log ?? (() => undefined)
  const dir = resolve(options.dir)
  await mkdir(dir, { recursive: true })
  const startedAt = new Date().toISOString()
  const faultBranch = options.faultBranch ?? options.branches.at(-1)!
  const specs = options.faults.map((spec) => ({ spec, nemeses: nemesesOf(spec) }))
  const wantsClock = specs.some((s) => s.nemeses.some((n) => n.name === 'clock-step'))
  const context: NemesisContext = {
    branch: faultBranch,
    wan: options.wanFault,
    clockStepSeconds: options.clockStepSeconds,
    leaseTtlSeconds: options.leaseTtlSeconds,
    confirmationLeaseSeconds: options.confirmationLeaseSeconds,
  }
  const history = new JsonLines<HistoryOp>(join(dir, 'history.jsonl'))
  const watch = new JsonLines<WatchLine>(join(dir, 'watch.jsonl'))
  const calls = new JsonLines<CallLine>(join(dir, 'calls.jsonl'))
  const faults = new JsonLines<FaultLine>(join(dir, 'faults.jsonl'))
  const faultLines: FaultLine[] = []
  const phases: Phase[] = []
  let cluster: ChaosCluster | undefined
  let workload: Workload | undefined
  const keepAlive = setInterval(() => undefined, 1_000)
  try {
    log(`starting ${options.branches.length} branches in ${dir}`)
    cluster = await ChaosCluster.start({
      dir: join(dir, 'work'),
      branches: options.branches,
      wan: options.wan,
      seed: options.seed,
      workers: options.workers,
      confirmationLeaseSeconds: options.confirmationLeaseSeconds,
      leaseTtlSeconds: options.leaseTtlSeconds,
      moveEtcdLeader: options.moveEtcdLeader,
      clockBranches: wantsClock ? [faultBranch] : [],
    })
    const fromRevision = await cluster.etcdRevision()
    log('starting the workload')
    const workloadStart = Date.now()
    workload = await Workload.start(cluster, { history, watch, calls }, { seed: options.seed, thinkMs: options.thinkMs, calls: options.calls })

    const runStart = Date.now()
    const phase = async (name: string, kind: Phase['kind'], lengthMs: number, fault?: string): Promise<void> => {
      const startMs = Date.now()
      await pause(lengthMs)
      phases.push({ name, kind, ...(fault === undefined ? {} : { fault }), startMs, endMs: Date.now() })
    }
    // The faults must hit a system that serves: wait (at most recoveryMaxMs) for a first write to
    // succeed; on a loaded machine the registries may still be settling their leadership.
    const warmStart = Date.now()
    while (!workload.okWriteSince(workloadStart) && Date.now() - warmStart < (options.recoveryMaxMs ?? 60_000)) await pause(100)
    if (Date.now() - warmStart > 200) {
      phases.push({ name: 'warm-up', kind: 'before', startMs: warmStart, endMs: Date.now() })
      log(`warm-up: the first write succeeded after ${Math.round((Date.now() - warmStart) / 1_000)} s`)
    }
    log('phase before')
    await phase('before', 'before', options.baselineMs)
    const oneRound = specs.reduce((sum, s) => sum + Math.max(options.faultMs, ...s.nemeses.map((n) => n.minimumMs(context))) + options.recoveryMs, 0)
    let round = 0
    do {
      for (const { spec, nemeses } of specs) {
        if (options.durationMs !== undefined && round > 0 && Date.now() - runStart + oneRound / specs.length > options.durationMs) break
        const holdMs = Math.max(options.faultMs, ...nemeses.map((n) => n.minimumMs(context)))
        const name = round === 0 ? spec : `${spec} #${round + 1}`
        log(`fault ${name}`)
        const duringStart = Date.now()
        const started: { nemesis: (typeof nemeses)[number]; target: string; startMs: number }[] = []
        for (const nemesis of nemeses) {
          const startMs = Date.now()
          try {
            started.push({ nemesis, target: await nemesis.start(cluster, context), startMs })
          } catch (error) {
            log(`  ${nemesis.name} could not start: ${(error as Error).message}`)
          }
        }
        await pause(Math.max(0, holdMs - (Date.now() - duringStart)))
        for (const { nemesis, target, startMs } of started.reverse()) {
          try {
            await nemesis.end(cluster, context)
          } catch (error) {
            log(`  ${nemesis.name} could not be healed: ${(error as Error).message}`)
          }
          const line: FaultLine = { name: nemesis.name, startMs, endMs: Date.now(), target }
          faults.write(line)
          faultLines.push(line)
        }
        const healedAt = Date.now()
        phases.push({ name: `during ${name}`, kind: 'during', fault: spec, startMs: duringStart, endMs: healedAt })
        const afterStart = Date.now()
        await pause(options.recoveryMs)
        const recoveryDeadline = healedAt + (options.recoveryMaxMs ?? 60_000)
        while (!workload.okWriteSince(healedAt) && Date.now() < recoveryDeadline) await pause(100)
        if (!workload.okWriteSince(healedAt)) log(`  no write succeeded within ${Math.round((Date.now() - healedAt) / 1_000)} s of the heal`)
        phases.push({ name: `after ${name}`, kind: 'after', fault: spec, startMs: afterStart, endMs: Date.now() })
      }
      round += 1
    } while (options.durationMs !== undefined && specs.length > 0 && Date.now() - runStart + oneRound / specs.length <= options.durationMs)

    log('stopping the workload')
    await workload.stop(options.drainMs ?? 25_000)
    const toRevision = await cluster.etcdRevision()
    const phoneRecords: PhoneLine[] = []
    for (const [deviceId, phone] of workload.phones) phoneRecords.push(...phoneLines(deviceId, await phone.received(), cluster.workers))
    phoneRecords.sort((a, b) => a.atMs - b.atMs)
    const phones = new JsonLines<PhoneLine>(join(dir, 'phones.jsonl'))
    for (const record of phoneRecords) phones.write(record)
    await phones.close()
    const etcd: EtcdInfo = { endpoints: cluster.etcd.endpoints, prefix: cluster.prefix, fromRevision, toRevision }
    await writeFile(join(dir, 'etcd.json'), `${JSON.stringify(etcd, null, 2)}\n`)
    for (const sink of [history, watch, calls, faults]) await sink.close()

    let check: Awaited<ReturnType<typeof runCheckers>> = { reason: 'the checkers were switched off (--no-check)' }
    if (options.check) {
      log('checking')
      check = await runCheckers(dir, { phoneBoundMs: options.confirmationLeaseSeconds * 1_000 + 250, unknownAs: 'separate', requestIds: 'yes' })
    }
    const ops = await readLines<HistoryOp>(join(dir, 'history.jsonl'))
    const suspensions = cluster.branches.flatMap((b) => b.nodeOut.kept.filter((k) => k.json['msg'] === 'lease suspended').map((k) => ({ site: b.id, atMs: k.at })))
    const devices = new Map(cluster.branches.flatMap((b) => b.devices.map((d) => [d.id, b.id] as const)))
    const figures = runFigures(ops, phoneRecords, faultLines, suspensions, (id) => devices.get(id))
    const report = buildReport({
      runDir: dir,
      startedAt,
      options: { ...options, log: undefined, dir: undefined },
      phases,
      faults: faultLines,
      history: ops,
      calls: await readLines<CallLine>(join(dir, 'calls.jsonl')),
      check: 'report' in check ? check.report : undefined,
      ...('reason' in check ? { uncheckedReason: check.reason } : {}),
      figures,
    })
    await writeFile(join(dir, 'report.json'), `${JSON.stringify(report, null, 2)}\n`)
    await writeFile(join(dir, 'report.txt'), formatText(report))
    await writeFile(join(dir, 'report.html'), formatHtml(report, ops))
    return { dir, report, violations: report.check?.violations.length ?? 0 }
  } finally {
    await holding(async () => {
      await workload?.stop(1_000).catch(() => undefined)
      await workload?.stopPhones().catch(() => undefined)
      await cluster?.stop().catch(() => undefined)
      for (const sink of [history, watch, calls, faults]) await sink.close().catch(() => undefined)
      // etcd's data is of no use once checked, and large; the logs stay.
      await rm(join(dir, 'work', 'etcd'), { recursive: true, force: true })
    })
    clearInterval(keepAlive)
  }
}

/** The JSON lines of a file. */
export async function readLines<T>(file: string): Promise<T[]> {
  const text = await readFile(file, 'utf8').catch(() => '')
  return text.split('\n').filter((line) => line.trim() !== '').map((line) => JSON.parse(line) as T)
}
