/**
 * Sign-out policy benchmark: from a seat's deadline to the desk told, as a worker sees it. The
 * whole system on this machine (a 3-member etcd cluster, a registry, an embedded SIP engine and a
 * SIP node per branch; the desk is a sipp phone). Policy hours count as seconds
 * (FLEXSEAT_TEST_POLICY_SECONDS=1): the worker's policy has a time limit of 2 "hours" (2 s).
 *
 * Per run the worker signs in at the desk with `*51*1001*<pin>`, the registry stores the seat's
 * `expires_at`, and the leader ends the seat when it falls due (its timer, a fenced transaction),
 * the desk's node sees the release on its watch and sends the MESSAGE `1001 signed out: time
 * limit 2 s`. The figure is MESSAGE received at the phone (sipp's trace time) minus `expires_at`:
 * timer lateness + transaction + watch + node + SIP. Median and p99 over the runs.
 *
 *   npm run build && flock /work/.heavy.lock env TAP_TIMEOUT=0 npx tsx bench/policy.ts [--runs 30]
 *
 * (TAP_TIMEOUT=0: the test helpers load tap, whose 30 s default would end the run.)
 * Prints figures, never asserts. Every process is killed at the end.
 */
import { loadavg } from 'node:os'
import { parseArgs } from 'node:util'
import { PolicyLevel, unary } from '@flexseat/proto'
import { Branches, PIN, statusLine } from '../test/helpers/branches'
import { summary } from './stats'

const { values } = parseArgs({ options: { runs: { type: 'string', default: '30' } } })
const RUNS = Number(values.runs)
const teardowns: (() => void | Promise<void>)[] = []
const t = { teardown: (fn: () => void | Promise<void>) => void teardowns.push(fn) }

async function main(): Promise<void> {
  const loadBefore = loadavg()[0]!
  const branches = await Branches.start(t, { etcdMembers: 3, logLevel: 'info', registryEnv: { FLEXSEAT_TEST_POLICY_SECONDS: '1' } })
  const registry = branches.registry
  const leader = await registry.leader()
  const { policy, seat } = registry.clients(leader)
  const metadata = registry.metadata('admin')
  await unary(policy.setSeatPolicy.bind(policy), { requestId: `bench-policy-${Date.now()}`, scope: { level: PolicyLevel.POLICY_LEVEL_USER, id: 'ada' }, policy: { maxHours: 2, none: [] } }, { metadata })
  const desk = await branches.phone('amsterdam', 'ams-desk-1').start()
  teardowns.push(() => desk.stop())
  const samples: number[] = []
  for (let run = 0; run < RUNS; run += 1) {
    const outcome = await desk.dial(`*51*1001*${PIN['1001']}`)
    if (statusLine(outcome) !== '480 Signed in as 1001') throw new Error(`sign-in failed: ${statusLine(outcome)}`)
    const taken = (await unary(seat.getSeat.bind(seat), { target: { $case: 'userId', value: 'ada' } }, { metadata })).seat
    if (taken?.expiresAt === undefined) throw new Error('the seat has no time limit')
    const told = await desk.waitForMessage('1001 signed out: time limit 2 s', 15_000, taken.since!.getTime())
    samples.push(told.time - taken.expiresAt.getTime())
  }
  const s = summary(samples)
  console.log(JSON.stringify({ bench: 'policy deadline -> desk told (MESSAGE at the phone)', runs: s.n, medianMs: s.medianMs, p99Ms: s.p99Ms, minMs: Math.min(...samples), maxMs: Math.max(...samples), load1Before: loadBefore, load1After: loadavg()[0] }))
}

main()
  .catch((error: unknown) => {
    console.error(error)
    process.exitCode = 1
  })
  .finally(async () => {
    for (const teardown of teardowns.reverse()) await Promise.resolve(teardown()).catch(() => undefined)
  })
