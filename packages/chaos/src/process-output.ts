import { createWriteStream, type WriteStream } from 'node:fs'
import { createInterface } from 'node:readline'
import type { TetheredProcess } from '@flexseat/sim'

/**
 * The output of one role's processes (every run of a restarted process appends): written to a log
 * file of the run and kept in memory (the last {@link KEEP} lines) so that the runner can wait for
 * a line (`registry listening`, `lease active`).
 */
export class ProcessOutput {
  readonly file: string
  readonly lines: { at: number; text: string; json: Record<string, unknown> | undefined }[] = []
  /** Lines seen in all (an index that survives the trimming of {@link lines}). */
  total = 0
  /** Every JSON line `keep` accepted, whole run long (never trimmed), with the runner's time of arrival. */
  readonly kept: { at: number; json: Record<string, unknown> }[] = []
  readonly #stream: WriteStream
  readonly #keep: ((json: Record<string, unknown>) => boolean) | undefined

  constructor(file: string, keep?: (json: Record<string, unknown>) => boolean) {
    this.file = file
    this.#stream = createWriteStream(file, { flags: 'a' })
    this.#keep = keep
  }

  /** Reads the process's stdout and stderr line by line. */
  follow(child: TetheredProcess): void {
    for (const stream of [child.stdout, child.stderr]) {
      createInterface({ input: stream, crlfDelay: Infinity }).on('line', (text) => this.add(text))
    }
  }

  add(text: string): void {
    this.#stream.write(`${text}\n`)
    let json: Record<string, unknown> | undefined
    if (text.startsWith('{')) {
      try {
        json = JSON.parse(text) as Record<string, unknown>
      } catch {
        json = undefined
      }
    }
    const at = Date.now()
    if (json !== undefined && this.#keep?.(json) === true) this.kept.push({ at, json })
    this.lines.push({ at, text, json })
    this.total += 1
    if (this.lines.length > KEEP) this.lines.splice(0, this.lines.length - KEEP)
  }

  /** The mark to pass as `since` to {@link waitFor}: lines after now. */
  mark(): number {
    return this.total
  }

  /**
   * Resolves with the first JSON line after `since` whose `msg` is `msg` (or, with `msg` a
   * function, that it accepts); rejects after `timeoutMs`, or at once when `gaveUp()` says so
   * (the process ended).
   */
  async waitFor(msg: string | ((line: Record<string, unknown>) => boolean), options: { since: number; timeoutMs: number; gaveUp?: () => string | undefined }): Promise<Record<string, unknown>> {
    const test = typeof msg === 'string' ? (line: Record<string, unknown>) => line['msg'] === msg : msg
    const deadline = Date.now() + options.timeoutMs
    for (;;) {
      const first = this.total - this.lines.length
      for (let i = Math.max(0, options.since - first); i < this.lines.length; i++) {
        const json = this.lines[i]!.json
        if (json !== undefined && test(json)) return json
      }
      const reason = options.gaveUp?.()
      if (reason !== undefined) throw new Error(`${reason} before logging '${String(msg)}': ${this.tail(15)}`)
      if (Date.now() > deadline) throw new Error(`no '${String(msg)}' within ${options.timeoutMs} ms: ${this.tail(15)}`)
      await pause(25)
    }
  }

  /** The last `count` lines, for error messages. */
  tail(count: number): string {
    return this.lines.slice(-count).map((l) => l.text).join('\n')
  }

  async close(): Promise<void> {
    if (this.#stream.closed) return
    await new Promise<void>((resolve) => this.#stream.end(() => resolve()))
  }
}

/** Lines kept in memory per role. */
const KEEP = 5_000

/** A polling interval (every wait has a deadline). Ref'd: tethered children are unref'd. */
export function pause(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}
