/**
 * The real `flexseat` command (packages/cli/dist/main.js; build first) as a tethered child
 * process, for the CLI's integration tests.
 */
import { join } from 'node:path'
import { TetheredProcess } from '@flexseat/sim'

export const CLI_MAIN = join(__dirname, '..', '..', 'packages', 'cli', 'dist', 'main.js')

export interface CliResult {
  code: number | null
  signal: NodeJS.Signals | null
  stdout: string
  stderr: string
}

/** A running `flexseat` process, its output collected as it comes. */
export class Cli {
  stdout = ''
  stderr = ''
  readonly process: TetheredProcess

  private constructor(child: TetheredProcess) {
    this.process = child
    child.stdout.setEncoding('utf8')
    child.stderr.setEncoding('utf8')
    child.stdout.on('data', (chunk: string) => (this.stdout += chunk))
    child.stderr.on('data', (chunk: string) => (this.stderr += chunk))
  }

  /**
   * Starts `flexseat <args>` with `env` as its only FLEXSEAT_* environment. With stdinLines the
   * command reads them on stdin: it runs behind `printf ... |` (a tether gives its command
   * /dev/null), the lines travelling in the environment, never in argv.
   */
  static async start(args: readonly string[], env: Record<string, string>, stdinLines?: readonly string[]): Promise<Cli> {
    const inherited = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('FLEXSEAT_')))
    const full: NodeJS.ProcessEnv = { ...inherited, ...env }
    if (stdinLines === undefined) return new Cli(await TetheredProcess.spawn(process.execPath, [CLI_MAIN, ...args], { env: full }))
    full.FLEXSEAT_TEST_STDIN = stdinLines.map((line) => `${line}\n`).join('')
    const script = 'printf "%s" "$FLEXSEAT_TEST_STDIN" | "$@"'
    return new Cli(await TetheredProcess.spawn('/bin/sh', ['-c', script, 'sh', process.execPath, CLI_MAIN, ...args], { env: full }))
  }

  /** Resolves when `stream` holds a match of `pattern`; rejects after `timeoutMs`. */
  async waitFor(pattern: RegExp, stream: 'stdout' | 'stderr' = 'stdout', timeoutMs = 10_000): Promise<RegExpMatchArray> {
    const deadline = Date.now() + timeoutMs
    for (;;) {
      const match = this[stream].match(pattern)
      if (match) return match
      const state = `stdout ${JSON.stringify(this.stdout)} stderr ${JSON.stringify(this.stderr)}`
      if (!this.process.running) throw new Error(`flexseat ended before printing ${pattern}: ${state}`)
      if (Date.now() > deadline) throw new Error(`flexseat did not print ${pattern} in time: ${state}`)
      await new Promise((resolve) => setTimeout(resolve, 25))
    }
  }

  /** Waits for the end and returns everything printed. */
  async result(): Promise<CliResult> {
    const exit = await this.process.exited
    await Promise.all([this.process.stdout, this.process.stderr].map((s) => (s.readableEnded ? undefined : new Promise((resolve) => s.once('end', resolve)))))
    return { code: exit.code, signal: exit.signal, stdout: this.stdout, stderr: this.stderr }
  }
}
