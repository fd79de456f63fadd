import { type ChildProcess, spawn } from 'node:child_process'
import { once } from 'node:events'
import { constants } from 'node:os'
import type { Readable } from 'node:stream'

/**
 * A wrapper script that runs the command and kills it with SIGKILL as soon as its own stdin
 * reaches end of file. Our end of that pipe closes whenever this process ends, however it ends
 * (even by SIGKILL), so no child outlives the process that started it. The command's pid is
 * written to fd 3 so that signals (SIGSTOP, SIGKILL) can be sent to the command itself.
 */
const TETHER = [
  'exec 5<&0',
  '"$@" </dev/null 3>&- 5<&- & child=$!',
  'echo "$child" >&3',
  'exec 3>&-',
  '{ read -r _ || true; kill -KILL "$child" 2>/dev/null; } <&5 & watcher=$!',
  'wait "$child"; code=$?',
  'kill "$watcher" 2>/dev/null',
  'exit "$code"',
].join('\n')

/** How a tethered process ended. */
export interface ProcessExit {
  code: number | null
  signal: NodeJS.Signals | null
}

/**
 * A child process that cannot outlive this one: if this process dies, the child is killed.
 * `pid` is the command's own pid (not the wrapper's), so `signal('SIGSTOP')` pauses the command.
 */
export class TetheredProcess {
  readonly pid: number
  readonly stdout: Readable
  readonly stderr: Readable
  /** Resolves when the command has ended. */
  readonly exited: Promise<ProcessExit>
  #exit: ProcessExit | undefined

  private constructor(wrapper: ChildProcess, pid: number) {
    this.pid = pid
    this.stdout = wrapper.stdout as Readable
    this.stderr = wrapper.stderr as Readable
    this.exited = new Promise((resolve) => {
      const settle = (code: number | null, signal: NodeJS.Signals | null): void => {
        // The wrapper reports a command killed by signal N as exit code 128 + N.
        const exit = code !== null && code > 128 ? { code: null, signal: signalName(code - 128) } : { code, signal }
        this.#exit = exit
        resolve(exit)
      }
      if (wrapper.exitCode !== null || wrapper.signalCode !== null) settle(wrapper.exitCode, wrapper.signalCode)
      else {
        // Ended once its output is read to the end ('close'), so that its last lines (`registry
        // stopped`) reach the log before anyone acts on the end; a grandchild that kept the pipes
        // open must not hold that up for more than a second.
        let settled = false
        const once = (code: number | null, signal: NodeJS.Signals | null): void => {
          if (settled) return
          settled = true
          settle(code, signal)
        }
        wrapper.once('close', once)
        wrapper.once('exit', (code, signal) => setTimeout(() => once(code, signal), 1_000).unref())
      }
    })
  }

  /**
   * Starts `command` with `args`; resolves once the command's pid is known. `prefix` is a
   * command line put in front that runs the rest by exec'ing it (e.g. `ip netns exec <ns>`, or
   * `env -u VAR`), so that `pid` is still the command's own.
   */
  static async spawn(
    command: string,
    args: readonly string[],
    options: { cwd?: string; env?: NodeJS.ProcessEnv; prefix?: readonly string[] } = {},
  ): Promise<TetheredProcess> {
    const line = [...(options.prefix ?? []), command, ...args]
    const wrapper = spawn('/bin/sh', ['-c', TETHER, 'tether', ...line], {
      cwd: options.cwd,
      // Without `env`, spawn itself passes this process' environment on.
      ...(options.env === undefined ? {} : { env: options.env }),
      stdio: ['pipe', 'pipe', 'pipe', 'pipe'],
      // A process group of its own: Ctrl-C at a terminal signals only the parent, which then stops
      // its children in order (e.g. registries before etcd). The tether still ends the child
      // whenever the parent ends.
      detached: true,
    })
    const pidPipe = wrapper.stdio[3] as Readable
    let text = ''
    pidPipe.setEncoding('utf8')
    pidPipe.on('data', (chunk: string) => {
      text += chunk
    })
    const [exitOrEnd] = await Promise.race([once(pidPipe, 'end').then(() => ['end']), once(wrapper, 'error')])
    const pid = Number.parseInt(text.trim(), 10)
    if (exitOrEnd !== 'end' || !Number.isInteger(pid)) {
      wrapper.kill('SIGKILL')
      throw new Error(`could not start ${command}`)
    }
    // The wrapper's stdin is the tether: keep it open, and never let it hold the event loop.
    ;(wrapper.stdin as unknown as { unref?: () => void }).unref?.()
    wrapper.unref()
    return new TetheredProcess(wrapper, pid)
  }

  /** Whether the command is still running (or stopped). */
  get running(): boolean {
    return this.#exit === undefined
  }

  /** Sends a signal to the command; false if it has already ended. */
  signal(signal: NodeJS.Signals): boolean {
    if (!this.running) return false
    try {
      process.kill(this.pid, signal)
      return true
    } catch {
      return false
    }
  }

  /**
   * Stops the command: SIGTERM (after SIGCONT, in case it is paused), then SIGKILL once
   * `graceMs` has passed. Idempotent; resolves when the command has ended.
   */
  async stop(graceMs = 5_000): Promise<ProcessExit> {
    if (this.running) {
      this.signal('SIGCONT')
      this.signal('SIGTERM')
      const timer = setTimeout(() => this.kill(), graceMs)
      timer.unref()
      await this.#awaitExit()
      clearTimeout(timer)
    }
    return this.exited
  }

  /** Kills the command at once (SIGKILL). Resolves when it has ended. */
  async kill(): Promise<ProcessExit> {
    this.signal('SIGKILL')
    return this.#awaitExit()
  }

  /**
   * Waits for the end while holding the event loop open: the wrapper is unref'd and an idle
   * pipe is no active handle, so without this a caller awaiting stop() could see its own
   * process exit first (and the tether would then SIGKILL the child mid-shutdown).
   */
  async #awaitExit(): Promise<ProcessExit> {
    if (!this.running) return this.exited
    const hold = setInterval(() => {}, 1_000)
    try {
      return await this.exited
    } finally {
      clearInterval(hold)
    }
  }
}

function signalName(number: number): NodeJS.Signals | null {
  const signals = constants.signals as Record<string, number>
  const name = Object.keys(signals).find((key) => signals[key] === number)
  return (name as NodeJS.Signals | undefined) ?? null
}
