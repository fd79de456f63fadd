import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { type ProcessExit, TetheredProcess } from '@flexseat/sim'
import { onRealDrachtio } from './engines'

const MAIN = join(__dirname, '..', '..', 'packages', 'sim', 'dist', 'main.js')
/** `npm run demo`'s script. */
export const DEMO = join(__dirname, '..', '..', 'packages', 'sim', 'dist', 'demo.js')

/** A running `flexseat-sim` and its output so far. */
export interface SimRun {
  process: TetheredProcess
  /** Everything it wrote to stdout and stderr, in order of arrival. */
  output(): string
  /**
   * Resolves with the first match of `pattern` in the output after character `from` (default 0:
   * all of it; `run.output().length`: only what is still to come); rejects after `timeoutMs` or
   * if the launcher ends first.
   */
  waitFor(pattern: RegExp, timeoutMs: number, from?: number): Promise<RegExpMatchArray>
  /**
   * Resolves with how the launcher ended; rejects after `timeoutMs`. (Polls: a tethered child
   * does not keep the event loop alive, so awaiting `process.exited` alone could end the test.)
   */
  exit(timeoutMs: number): Promise<ProcessExit>
}

/**
 * A word of the command line of every SIP engine process the simulation starts, for the engine
 * under test (engines.ts): the embedded engine's script, or drachtio-server's binary.
 */
export function engineProcessNeedle(): string {
  return onRealDrachtio() ? 'drachtio-server' : 'sip-engine/dist/main.js'
}

/**
 * Starts `node packages/sim/dist/main.js <args>` (or another of its scripts, e.g. {@link DEMO};
 * tethered: it dies with the test), with `--engine drachtio-server` when that is the engine
 * under test (engines.ts) and the script starts a simulation.
 */
export async function startSim(args: string[], script = MAIN): Promise<SimRun> {
  if (onRealDrachtio() && !args.some((arg) => ['cut', 'heal', 'clean'].includes(arg))) args = [...args, '--engine', 'drachtio-server']
  // Run it as a user would: without the test runner's loaders and coverage hooks.
  const env: NodeJS.ProcessEnv = { ...process.env, FLEXSEAT_LOG_LEVEL: 'info' }
  delete env.NODE_OPTIONS
  delete env.NODE_V8_COVERAGE
  for (const key of Object.keys(env)) if (key.startsWith('TAP') || key.startsWith('_TAPJS')) delete env[key]
  // tap's process tracking puts its NODE_OPTIONS back into every child's environment; `env -u`
  // (which then execs node, keeping the pid) takes it out again.
  const child = await TetheredProcess.spawn('env', ['-u', 'NODE_OPTIONS', process.execPath, script, ...args], { env })
  let text = ''
  for (const stream of [child.stdout, child.stderr]) {
    stream.setEncoding('utf8')
    stream.on('data', (chunk: string) => {
      text += chunk
    })
  }
  let ended: ProcessExit | undefined
  void child.exited.then((exit) => {
    ended = exit
  })
  return {
    process: child,
    output: () => text,
    async waitFor(pattern, timeoutMs, from = 0) {
      const deadline = Date.now() + timeoutMs
      for (;;) {
        const match = pattern.exec(text.slice(from))
        if (match) return match
        if (ended !== undefined) throw new Error(`the launcher ended before ${pattern}:\n${text}`)
        if (Date.now() > deadline) throw new Error(`no ${pattern} within ${timeoutMs} ms:\n${text}`)
        await new Promise((resolve) => setTimeout(resolve, 50))
      }
    },
    async exit(timeoutMs) {
      const deadline = Date.now() + timeoutMs
      while (ended === undefined) {
        if (Date.now() > deadline) throw new Error(`the launcher did not end within ${timeoutMs} ms:\n${text}`)
        await new Promise((resolve) => setTimeout(resolve, 50))
      }
      return ended
    },
  }
}

/**
 * Pids of the processes whose command line mentions every one of `needles` (e.g. a temp folder),
 * from /proc; the tether's shell wrappers are left out.
 */
export function processesMentioning(...needles: string[]): number[] {
  const pids: number[] = []
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue
    try {
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8')
      if (needles.every((needle) => cmdline.includes(needle)) && !cmdline.startsWith('/bin/sh\0-c')) pids.push(Number(entry))
    } catch {
      // The process ended while we looked.
    }
  }
  return pids
}

/** Polls `check` until it returns true or `timeoutMs` passes; returns its last answer. */
export async function eventually(check: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs
  while (!check()) {
    if (Date.now() > deadline) return false
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  return true
}
