import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { ChaosError } from './errors'
import { NEMESIS_NAMES } from './nemesis'
import { CHAOS_DEFAULTS, type ChaosOptions } from './run'

/** `npm run chaos -- --help`. */
export const USAGE = `Usage: npm run chaos -- [options]   (flexseat-chaos [options])

Runs the branches as processes on this machine (3 etcd members, per branch a registry, a SIP
engine and a SIP node, sipp desk phones), a workload of sign-ins, sign-outs, reads and calls on a
hot set of workers, and the faults one after another (each: held, healed, then a recovery phase).
Writes the run's files and report.txt / report.html into --dir; exits 1 on any violation the
checkers (@flexseat/history-check) find, 3 when they could not run, 2 on a bad option or a
system that did not start.

  --dir PATH               run directory (default chaos-runs/<time>)
  --duration SECONDS       total length: the fault list is repeated while it fits (default one pass)
  --branches N|a,b,..      how many branches, or their site ids (default 3: amsterdam,berlin,chicago;
                           past those: branch-4, branch-5, ... made from sites/berlin.yaml)
  --faults LIST            comma-separated; a+b = both at once; 'none'; 'all' = each alone (also in a list)
                           (default ${CHAOS_DEFAULTS.faults.join(',')})
  --seed N                 workload and relay randomness (default ${CHAOS_DEFAULTS.seed})
  --baseline SECONDS       phase before the first fault (default ${CHAOS_DEFAULTS.baselineMs / 1000})
  --fault-seconds SECONDS  how long each fault is held (default ${CHAOS_DEFAULTS.faultMs / 1000}; longer where a lease needs it)
  --recovery SECONDS       phase after each fault (default ${CHAOS_DEFAULTS.recoveryMs / 1000})
  --workers N              workers in the hot set (default ${CHAOS_DEFAULTS.workers})
  --wan-delay MS           one-way delay between branches throughout (default ${CHAOS_DEFAULTS.wan.delayMs})
  --wan-jitter MS          (default ${CHAOS_DEFAULTS.wan.jitterMs})
  --wan-loss PERCENT       UDP (SIP trunk) loss (default ${CHAOS_DEFAULTS.wan.lossPercent})
  --fault-wan-delay MS     the 'wan' fault's one-way delay (default ${CHAOS_DEFAULTS.wanFault.delayMs})
  --fault-wan-jitter MS    (default ${CHAOS_DEFAULTS.wanFault.jitterMs})
  --fault-wan-loss PERCENT (default ${CHAOS_DEFAULTS.wanFault.lossPercent})
  --fault-branch SITE      the branch of branch faults (default the last branch)
  --clock-step SECONDS     the 'clock-step' fault's step (default +${CHAOS_DEFAULTS.clockStepSeconds})
  --confirmation-lease S   the nodes' confirmation lease (default ${CHAOS_DEFAULTS.confirmationLeaseSeconds})
  --leader-lease S         the registries' leadership lease, FLEXSEAT_LEASE_TTL_SECONDS (default ${CHAOS_DEFAULTS.leaseTtlSeconds};
                           a crashed leader's successor serves after about this long)
  --move-etcd-leader on|off the leading registry moves etcd's raft leader to its branch's member,
                           FLEXSEAT_MOVE_ETCD_LEADER (default ${CHAOS_DEFAULTS.moveEtcdLeader ? 'on' : 'off'})
  --think MS               mean pause between two operations of a client (default ${CHAOS_DEFAULTS.thinkMs})
  --no-calls               no calls to the workers
  --no-check               do not run the checkers (exit 3)

Faults: ${NEMESIS_NAMES.join(', ')}
`

const DEFAULT_SITES = ['amsterdam', 'berlin', 'chicago']

/**
 * The run options of a command line.
 * @throws ChaosError `BAD_OPTION` naming the flag.
 */
export function parseChaosArgs(argv: readonly string[], now = new Date()): ChaosOptions | 'help' {
  let values: Record<string, string | boolean | undefined>
  try {
    ;({ values } = parseArgs({
      args: [...argv],
      strict: true,
      allowPositionals: false,
      options: {
        help: { type: 'boolean', short: 'h' },
        dir: { type: 'string' },
        duration: { type: 'string' },
        branches: { type: 'string' },
        faults: { type: 'string' },
        seed: { type: 'string' },
        baseline: { type: 'string' },
        'fault-seconds': { type: 'string' },
        recovery: { type: 'string' },
        workers: { type: 'string' },
        'wan-delay': { type: 'string' },
        'wan-jitter': { type: 'string' },
        'wan-loss': { type: 'string' },
        'fault-wan-delay': { type: 'string' },
        'fault-wan-jitter': { type: 'string' },
        'fault-wan-loss': { type: 'string' },
        'fault-branch': { type: 'string' },
        'clock-step': { type: 'string' },
        'confirmation-lease': { type: 'string' },
        'leader-lease': { type: 'string' },
        'move-etcd-leader': { type: 'string' },
        think: { type: 'string' },
        'no-calls': { type: 'boolean' },
        'no-check': { type: 'boolean' },
      },
    }))
  } catch (error) {
    throw new ChaosError('BAD_OPTION', (error as Error).message)
  }
  if (values['help'] === true) return 'help'
  const number = (flag: string, fallback: number, min: number, max: number): number => {
    const text = values[flag]
    if (text === undefined) return fallback
    const value = Number(text)
    if (typeof text !== 'string' || text.trim() === '' || !Number.isFinite(value) || value < min || value > max) throw new ChaosError('BAD_OPTION', `--${flag}: "${String(text)}" is not a number from ${min} to ${max}`)
    return value
  }
  const d = CHAOS_DEFAULTS
  const branchesText = values['branches'] as string | undefined
  let branches: string[] = [...d.branches]
  if (branchesText !== undefined) {
    if (/^\d+$/.test(branchesText)) {
      const count = number('branches', 3, 1, 20)
      branches = Array.from({ length: count }, (_, i) => DEFAULT_SITES[i] ?? `branch-${i + 1}`)
    } else {
      branches = branchesText.split(',').map((s) => s.trim())
      if (branches.some((s) => !/^[a-z][a-z0-9-]{0,30}$/.test(s))) throw new ChaosError('BAD_OPTION', `--branches: "${branchesText}" is not a count or a list of site ids (lower case, digits, '-')`)
      if (new Set(branches).size !== branches.length) throw new ChaosError('BAD_OPTION', `--branches: "${branchesText}" names a branch twice`)
    }
  }
  const faultsText = values['faults'] as string | undefined
  // 'all' (alone or in the list) stands for every fault, each alone.
  const faults = faultsText === undefined ? [...d.faults] : faultsText === 'none' ? [] : faultsText.split(',').map((s) => s.trim()).filter((s) => s !== '').flatMap((s) => (s === 'all' ? [...NEMESIS_NAMES] : [s]))
  for (const spec of faults) for (const name of spec.split('+')) if (!NEMESIS_NAMES.includes(name)) throw new ChaosError('BAD_OPTION', `--faults: unknown fault "${name}" (known: ${NEMESIS_NAMES.join(', ')})`)
  const faultBranch = values['fault-branch'] as string | undefined
  if (faultBranch !== undefined && !branches.includes(faultBranch)) throw new ChaosError('BAD_OPTION', `--fault-branch: "${faultBranch}" is not one of the branches (${branches.join(', ')})`)
  const moveText = values['move-etcd-leader'] as string | undefined
  if (moveText !== undefined && moveText !== 'on' && moveText !== 'off') throw new ChaosError('BAD_OPTION', `--move-etcd-leader: "${moveText}" is not on or off`)
  const duration = values['duration'] === undefined ? undefined : number('duration', 0, 1, 86_400) * 1_000
  const stamp = now.toISOString().replace(/[:.]/g, '-')
  return {
    dir: (values['dir'] as string | undefined) ?? join('chaos-runs', stamp),
    branches,
    faults,
    ...(duration === undefined ? {} : { durationMs: duration }),
    baselineMs: number('baseline', d.baselineMs / 1000, 0, 3_600) * 1_000,
    faultMs: number('fault-seconds', d.faultMs / 1000, 0, 3_600) * 1_000,
    recoveryMs: number('recovery', d.recoveryMs / 1000, 0, 3_600) * 1_000,
    seed: Math.round(number('seed', d.seed, 0, 2 ** 31)),
    workers: Math.round(number('workers', d.workers, 1, 9)),
    wan: { delayMs: number('wan-delay', d.wan.delayMs, 0, 10_000), jitterMs: number('wan-jitter', d.wan.jitterMs, 0, 10_000), lossPercent: number('wan-loss', d.wan.lossPercent, 0, 100) },
    wanFault: { delayMs: number('fault-wan-delay', d.wanFault.delayMs, 0, 10_000), jitterMs: number('fault-wan-jitter', d.wanFault.jitterMs, 0, 10_000), lossPercent: number('fault-wan-loss', d.wanFault.lossPercent, 0, 100) },
    ...(faultBranch === undefined ? {} : { faultBranch }),
    clockStepSeconds: number('clock-step', d.clockStepSeconds, -86_400, 86_400),
    confirmationLeaseSeconds: Math.round(number('confirmation-lease', d.confirmationLeaseSeconds, 2, 60)),
    leaseTtlSeconds: Math.round(number('leader-lease', d.leaseTtlSeconds, 2, 60)),
    moveEtcdLeader: moveText === undefined ? d.moveEtcdLeader : moveText === 'on',
    thinkMs: number('think', d.thinkMs, 10, 60_000),
    calls: values['no-calls'] !== true,
    check: values['no-check'] !== true,
  }
}
