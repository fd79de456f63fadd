import { existsSync, readdirSync } from 'node:fs'
import { writeFile } from 'node:fs/promises'
import { ChaosError } from './errors'

/**
 * Debian's libfaketime (package `libfaketime`), multi-threaded variant: preloaded into a
 * process, it answers the wall-clock calls (clock_gettime(CLOCK_REALTIME), gettimeofday, time)
 * with the real time plus the offset written in a file, which it reads again every second.
 */
export const LIBFAKETIME = findLibfaketime()

/** Debian's multiarch place of the library (`/usr/lib/<triplet>/faketime/`), for this machine's architecture. */
function findLibfaketime(): string {
  const fallback = '/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1'
  try {
    for (const dir of readdirSync('/usr/lib')) {
      const candidate = `/usr/lib/${dir}/faketime/libfaketimeMT.so.1`
      if (dir.endsWith('-linux-gnu') && existsSync(candidate)) return candidate
    }
  } catch {
    // No /usr/lib to read: the fallback names what is missing.
  }
  return fallback
}

/**
 * The clock of one branch's processes (registry, SIP engine, SIP node), steppable while they
 * run: they are started under libfaketime with an offset file, and {@link step} rewrites the
 * offset. The monotonic clock is left alone (DONT_FAKE_MONOTONIC): a real clock step (NTP, an
 * operator) moves the wall clock only, and Node's timers run on the monotonic one; what moves is
 * Date.now(), so every deadline computed from the wall clock (leases' expiry stamps, seat
 * deadlines, log times) sees the step. The offset is applied within a second (the file's cache).
 */
export class BranchClock {
  readonly file: string
  #offsetSeconds = 0

  private constructor(file: string) {
    this.file = file
  }

  /** Whether libfaketime is installed here. */
  static available(): boolean {
    return existsSync(LIBFAKETIME)
  }

  /** A clock with offset 0 in `file`. @throws ChaosError `CLOCK_UNAVAILABLE` without libfaketime. */
  static async create(file: string): Promise<BranchClock> {
    if (!BranchClock.available()) throw new ChaosError('CLOCK_UNAVAILABLE', `a clock step needs libfaketime (${LIBFAKETIME}): apt-get install libfaketime`)
    const clock = new BranchClock(file)
    await clock.step(0)
    return clock
  }

  /** The environment that puts a process on this clock. */
  get env(): Record<string, string> {
    return { LD_PRELOAD: LIBFAKETIME, FAKETIME_TIMESTAMP_FILE: this.file, FAKETIME_CACHE_DURATION: '1', DONT_FAKE_MONOTONIC: '1' }
  }

  /** The offset now in force, in seconds. */
  get offsetSeconds(): number {
    return this.#offsetSeconds
  }

  /** Sets the offset from the real time to `seconds` (negative: behind). */
  async step(seconds: number): Promise<void> {
    if (!Number.isFinite(seconds)) throw new ChaosError('BAD_OPTION', `clock offset ${seconds} is not a number`)
    await writeFile(this.file, `${seconds >= 0 ? '+' : ''}${Math.round(seconds)}s\n`)
    this.#offsetSeconds = Math.round(seconds)
  }
}
