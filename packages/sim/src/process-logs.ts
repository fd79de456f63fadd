import { createReadStream, createWriteStream, type WriteStream } from 'node:fs'
import { mkdir, readdir, stat } from 'node:fs/promises'
import { join } from 'node:path'

/** The folder of the process logs inside the state folder: `<stateDir>/logs`. */
export function logsDir(stateDir: string): string {
  return join(stateDir, 'logs')
}

/**
 * The log file of a process: `<stateDir>/logs/<site>-<kind>.log` (`berlin-registry.log`,
 * `berlin-etcd.log`); the launcher's own lines (what the terminal showed) go to `sim.log`.
 */
export function processLogPath(stateDir: string, site: string, kind: string): string {
  return join(logsDir(stateDir), `${site}-${kind}.log`)
}

/** One process log in the state folder. */
export interface ProcessLogFile {
  /** The site, or `sim` for the launcher's own log. */
  site: string
  /** `registry`, `sip-node`, `sip-engine`, `etcd`; '' for the launcher's own log. */
  kind: string
  path: string
  bytes: number
  modified: Date
}

/** The process logs of a state folder, by site then kind; [] when there are none yet. */
export async function listProcessLogs(stateDir: string, siteIds: readonly string[] = []): Promise<ProcessLogFile[]> {
  let names: string[]
  try {
    names = await readdir(logsDir(stateDir))
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return []
    throw error
  }
  const files: ProcessLogFile[] = []
  for (const name of names.filter((n) => n.endsWith('.log')).sort()) {
    const base = name.slice(0, -'.log'.length)
    // Site ids may hold a dash: a known site wins, else the kind is the last word that names one.
    const site = siteIds.find((id) => base.startsWith(`${id}-`)) ?? (base === 'sim' ? 'sim' : base.replace(/-(registry|sip-node|sip-engine|etcd)$/, ''))
    const kind = base === 'sim' ? '' : base.slice(site.length + 1)
    const info = await stat(join(logsDir(stateDir), name))
    files.push({ site, kind, path: join(logsDir(stateDir), name), bytes: info.size, modified: info.mtime })
  }
  return files
}

/**
 * Appends every line of the simulation's processes to a file per process under
 * `<stateDir>/logs` (kept across restarts of the process and across runs: a second start
 * appends). Lines are written as the process wrote them (JSON records stay JSON).
 */
export class ProcessLogs {
  readonly #dir: string
  readonly #streams = new Map<string, WriteStream>()
  #closed = false

  private constructor(dir: string) {
    this.#dir = dir
  }

  static async open(stateDir: string): Promise<ProcessLogs> {
    await mkdir(logsDir(stateDir), { recursive: true, mode: 0o700 })
    return new ProcessLogs(logsDir(stateDir))
  }

  /** Appends `text` to the log of `source` (`berlin registry`, or `sim`). */
  write(source: string, text: string): void {
    if (this.#closed) return
    let stream = this.#streams.get(source)
    if (stream === undefined) {
      stream = createWriteStream(join(this.#dir, `${source.replace(/\s+/g, '-')}.log`), { flags: 'a', mode: 0o600 })
      // A full disk must not crash the launcher: the terminal still shows what matters.
      stream.on('error', () => {})
      this.#streams.set(source, stream)
    }
    stream.write(`${text}\n`)
  }

  /** Flushes and closes every file; later writes are dropped. Idempotent. */
  async close(): Promise<void> {
    this.#closed = true
    await Promise.all([...this.#streams.values()].map((stream) => new Promise<void>((resolve) => stream.end(resolve))))
    this.#streams.clear()
  }
}

/** Options of {@link readProcessLog}. */
export interface ReadProcessLogOptions {
  /** Keep reading what is appended until `signal` aborts (as `tail -f`). */
  follow?: boolean
  /** How often a followed file is looked at for more (default 200 ms). */
  pollMs?: number
  signal?: AbortSignal
}

/**
 * Calls `onLine` with each line of the log at `path`, then (with `follow`) with each line
 * appended later, until the signal aborts. Resolves when done.
 */
export async function readProcessLog(path: string, onLine: (line: string) => void, options: ReadProcessLogOptions = {}): Promise<void> {
  let offset = 0
  let pending = ''
  const readMore = async (): Promise<void> => {
    const size = (await stat(path)).size
    if (size < offset) offset = 0 // truncated (a --reset): start over
    if (size === offset) return
    await new Promise<void>((resolve, reject) => {
      const stream = createReadStream(path, { start: offset, end: size - 1, encoding: 'utf8' })
      stream.on('data', (chunk) => {
        pending += chunk as string
        const lines = pending.split('\n')
        pending = lines.pop() ?? ''
        for (const line of lines) if (line !== '') onLine(line)
      })
      stream.on('end', resolve)
      stream.on('error', reject)
    })
    offset = size
  }
  await readMore()
  if (options.follow !== true) {
    if (pending !== '') onLine(pending)
    return
  }
  const signal = options.signal
  const stopped = (): boolean => signal?.aborted === true
  let wake: () => void = () => {}
  const onAbort = (): void => wake()
  signal?.addEventListener('abort', onAbort, { once: true })
  try {
    while (!stopped()) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, options.pollMs ?? 200)
        wake = () => {
          clearTimeout(timer)
          resolve()
        }
      })
      if (!stopped()) await readMore()
    }
  } finally {
    signal?.removeEventListener('abort', onAbort)
  }
}
