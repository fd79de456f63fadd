import { ChaosError } from './errors'
import type { ChaosCluster, WanConditions } from './topology'

/** What the nemeses may need besides the cluster. */
export interface NemesisContext {
  /** The branch that branch faults hit (cut, node pause, node restart, clock step). */
  branch: string
  /** The WAN of the `wan` fault (default 50 ms ± 20 ms one way, 5 % loss). */
  wan: WanConditions
  /** The clock step of `clock-step`, in seconds (default +30). */
  clockStepSeconds: number
  /** The registries' leadership lease TTL, in seconds (a pause lasts past it). */
  leaseTtlSeconds: number
  /** The nodes' confirmation lease, in seconds (a cut lasts past it). */
  confirmationLeaseSeconds: number
}

/** One fault: started, held for its phase, ended (healed). */
export interface Nemesis {
  readonly name: string
  /** What it does, for the report. */
  readonly description: string
  /** Starts the fault; resolves with its target (`registry:berlin`, `etcd:etcd-1`, ...). */
  start(cluster: ChaosCluster, context: NemesisContext): Promise<string>
  /** Heals it (restarts what was killed, resumes what was paused...). */
  end(cluster: ChaosCluster, context: NemesisContext): Promise<void>
  /** The least time it must last to be what it says (e.g. past a lease), in ms. */
  minimumMs(context: NemesisContext): number
}

/** Picks the etcd member to hit: the leader or a follower. */
async function etcdMember(cluster: ChaosCluster, leader: boolean): Promise<string> {
  const current = await cluster.etcdLeader()
  if (current === undefined) throw new ChaosError('CLUSTER_FAILED', 'no etcd leader to tell the members apart')
  if (leader) return current
  return cluster.etcd.members.find((m) => m.name !== current && m.process?.running === true)?.name ?? current
}

async function registryLeader(cluster: ChaosCluster): Promise<string> {
  // Under load the leadership may be between two holders for a while: wait for one.
  const leader = await cluster.registryLeader(20_000)
  if (leader === undefined) throw new ChaosError('CLUSTER_FAILED', 'no registry leader to hit within 20 s')
  return leader
}

/** Builds the catalogue; each nemesis keeps what it hit between start and end. */
function catalogue(): Nemesis[] {
  const hit = new Map<string, string>()
  let wanBefore: WanConditions | undefined
  return [
    {
      name: 'registry-leader-kill',
      description: 'kill -9 of the registry leader; restarted at the end',
      async start(cluster) {
        const site = await registryLeader(cluster)
        hit.set(this.name, site)
        await cluster.killRegistry(site)
        return `registry:${site}`
      },
      async end(cluster) {
        await cluster.startRegistry(hit.get(this.name)!)
      },
      minimumMs: () => 0,
    },
    {
      name: 'registry-leader-pause',
      description: 'SIGSTOP of the registry leader past its leadership lease, then SIGCONT',
      async start(cluster) {
        const site = await registryLeader(cluster)
        hit.set(this.name, site)
        cluster.branch(site).registry?.signal('SIGSTOP')
        return `registry:${site}`
      },
      async end(cluster) {
        cluster.branch(hit.get(this.name)!).registry?.signal('SIGCONT')
      },
      minimumMs: (context) => context.leaseTtlSeconds * 1_000 + 2_000,
    },
    ...([true, false] as const).flatMap((leader): Nemesis[] => {
      const role = leader ? 'leader' : 'follower'
      return [
        {
          name: `etcd-${role}-kill`,
          description: `kill -9 of the etcd ${role}; restarted on its data at the end`,
          async start(cluster) {
            const member = await etcdMember(cluster, leader)
            hit.set(this.name, member)
            await cluster.etcd.kill(member)
            return `etcd:${member}`
          },
          async end(cluster) {
            await cluster.etcd.restart(hit.get(this.name)!)
          },
          minimumMs: () => 0,
        },
        {
          name: `etcd-${role}-pause`,
          description: `SIGSTOP of the etcd ${role}, then SIGCONT`,
          async start(cluster) {
            const member = await etcdMember(cluster, leader)
            hit.set(this.name, member)
            cluster.etcd.pause(member)
            return `etcd:${member}`
          },
          async end(cluster) {
            cluster.etcd.resume(hit.get(this.name)!)
          },
          minimumMs: () => 0,
        },
      ]
    }),
    {
      name: 'branch-cut',
      description: "the branch's relays cut (its registry reaches no etcd member, its node not its registry, no trunk call reaches it) past its confirmation lease, then healed",
      async start(cluster, context) {
        await cluster.cutBranch(context.branch)
        return `branch:${context.branch}`
      },
      async end(cluster, context) {
        await cluster.healBranch(context.branch)
      },
      minimumMs: (context) => context.confirmationLeaseSeconds * 1_000 + 2_000,
    },
    {
      name: 'branch-node-pause',
      description: "SIGSTOP of the branch's SIP node past its confirmation lease, then SIGCONT",
      async start(cluster, context) {
        cluster.branch(context.branch).node?.signal('SIGSTOP')
        return `node:${context.branch}`
      },
      async end(cluster, context) {
        cluster.branch(context.branch).node?.signal('SIGCONT')
      },
      minimumMs: (context) => context.confirmationLeaseSeconds * 1_000 + 2_000,
    },
    {
      name: 'sip-node-restart',
      description: "kill -9 of the branch's SIP node; started again at the end (it resumes its lease from its state dir)",
      async start(cluster, context) {
        await cluster.killNode(context.branch)
        return `node:${context.branch}`
      },
      async end(cluster, context) {
        await cluster.startNode(context.branch, { waitForLease: false })
      },
      minimumMs: () => 0,
    },
    {
      name: 'wan',
      description: 'WAN delay, jitter and loss raised between every branch (and between the etcd members)',
      async start(cluster, context) {
        wanBefore = cluster.wanConditions
        await cluster.setWan(context.wan)
        return `wan:${context.wan.delayMs}±${context.wan.jitterMs}ms/${context.wan.lossPercent}%`
      },
      async end(cluster) {
        if (wanBefore !== undefined) await cluster.setWan(wanBefore)
      },
      minimumMs: () => 0,
    },
    {
      name: 'clock-step',
      description: "the branch's wall clock (registry, engine, node; libfaketime) stepped, then stepped back",
      async start(cluster, context) {
        const clock = cluster.branch(context.branch).clock
        if (clock === undefined) throw new ChaosError('CLOCK_UNAVAILABLE', `branch ${context.branch} was not started on a steppable clock`)
        await clock.step(context.clockStepSeconds)
        return `clock:${context.branch}:${context.clockStepSeconds >= 0 ? '+' : ''}${context.clockStepSeconds}s`
      },
      async end(cluster, context) {
        await cluster.branch(context.branch).clock?.step(0)
      },
      minimumMs: () => 1_500,
    },
  ]
}

/** The names of every nemesis. */
export const NEMESIS_NAMES: readonly string[] = catalogue().map((n) => n.name)

/**
 * The nemeses of a fault spec: one name, or several joined by `+` (combined: started in the order
 * given, ended in reverse).
 * @throws ChaosError `BAD_OPTION` naming an unknown fault.
 */
export function nemesesOf(spec: string): Nemesis[] {
  const all = catalogue()
  return spec.split('+').map((name) => {
    const nemesis = all.find((n) => n.name === name.trim())
    if (nemesis === undefined) throw new ChaosError('BAD_OPTION', `unknown fault "${name}" (known: ${NEMESIS_NAMES.join(', ')})`)
    return nemesis
  })
}
