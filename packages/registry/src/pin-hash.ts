import { randomBytes, scrypt, timingSafeEqual } from 'node:crypto'
import { availableParallelism } from 'node:os'

/** scrypt cost parameters. */
export interface ScryptParams {
  /** CPU/memory cost, a power of two (default 16384). */
  N: number
  /** Block size (default 8). */
  r: number
  /** Parallelism (default 1). */
  p: number
}

/**
 * The default cost of new PIN hashes: N=2^14, r=8, p=1 (16 MiB). Verification reads the cost
 * from each stored hash, so changing the default affects new hashes only.
 *
 * Measured on the 2-core bench machine (crypto.scrypt alone, both cores busy):
 *
 *   N      memory   one hash   hashes/s
 *   16384  16 MiB   26 ms      71-75
 *    8192   8 MiB   13 ms      150-161
 *    4096   4 MiB    6 ms      308-332
 *
 * Why it stays at 2^14:
 *
 * - A PIN is 4 to 12 digits. Against an offline attacker holding etcd's data no affordable cost
 *   saves a short PIN (10^4 guesses at 26 ms: 4 minutes on one core; at 6 ms: one minute). The
 *   cost matters only for long PINs, where it scales linearly: N=4096 would hand that attacker
 *   4x. So the cost is kept (already below OWASP's 2^17 for passwords); the defence against
 *   guessing is the lockout, counted by the leader in its fenced transaction.
 * - What the cost bounds is PIN checks per second of the instance that checks: ~37 per core.
 *   So a phone login received by a follower is checked THERE (RegistryCore.checkPin, see
 *   pin-check.ts) and the leader takes the verdict for that user record revision: the leader
 *   spends ~1 ms of CPU on it instead of ~32 ms, and PIN logins scale with the instances (each
 *   site's own hardware in production). On the 2-core bench machine, shared by 3 etcd members
 *   and 3 registries, PIN logins at 32 clients rose from 11-22/s to 32-52/s (besides the hash,
 *   a login is now 2 etcd round trips instead of 8), admin logins from 73-151/s to 390-850/s:
 *   with the PIN, the cores are the limit, not etcd.
 * - UV_THREADPOOL_SIZE stays at libuv's 4: scrypt runs there, and more threads than cores add
 *   no throughput (2 and 4 threads both gave 71-75/s on 2 cores). Instead at most
 *   `availableParallelism()` derivations run at once ({@link hashPin}, {@link verifyPin} queue
 *   the rest), so hashing never takes every pool thread from fs and DNS work.
 * - Memory: glibc keeps each hashing thread's 16 MiB in its arena, so an instance that checked
 *   PINs under load holds ~190 MiB RSS (a 4-thread scrypt loop alone: 106 MiB). Run the
 *   registry with `MALLOC_ARENA_MAX=2` (or `MALLOC_MMAP_THRESHOLD_=1048576`) to return it:
 *   measured 42 MiB for the same loop. That is the environment of the process, not code.
 */
export const DEFAULT_SCRYPT: Readonly<ScryptParams> = { N: 16_384, r: 8, p: 1 }

const KEY_LENGTH = 32
const SALT_LENGTH = 16

/** Derivations at once in this process (see the note above): the cores, at least 1. */
const MAX_CONCURRENT = Math.max(1, availableParallelism())
let running = 0
const waiting: (() => void)[] = []

async function derive(pin: string, salt: Buffer, params: ScryptParams): Promise<Buffer> {
  if (running >= MAX_CONCURRENT) await new Promise<void>((resolve) => waiting.push(resolve))
  else running++
  try {
    return await new Promise<Buffer>((resolve, reject) => {
      scrypt(pin, salt, KEY_LENGTH, { N: params.N, r: params.r, p: params.p, maxmem: 256 * params.N * params.r + 1_048_576 }, (error, key) =>
        error ? reject(error) : resolve(key),
      )
    })
  } finally {
    // Hand the slot to the next in line (running stays counted), or free it.
    const next = waiting.shift()
    if (next) next()
    else running--
  }
}

/**
 * Hashes a PIN for storage as `scrypt$N$r$p$<salt base64>$<hash base64>`, with a fresh random salt.
 * The PIN itself is never stored. At most `availableParallelism()` hashes or verifications run
 * at once per process; the rest wait their turn.
 * @see RFC 7914 (scrypt)
 */
export async function hashPin(pin: string, params: ScryptParams = DEFAULT_SCRYPT): Promise<string> {
  const salt = randomBytes(SALT_LENGTH)
  const hash = await derive(pin, salt, params)
  return `scrypt$${params.N}$${params.r}$${params.p}$${salt.toString('base64')}$${hash.toString('base64')}`
}

/** Whether `pin` matches a hash made by {@link hashPin}. A malformed hash matches nothing. */
export async function verifyPin(pin: string, stored: string): Promise<boolean> {
  const parts = stored.split('$')
  if (parts.length !== 6 || parts[0] !== 'scrypt') return false
  const [N, r, p] = parts.slice(1, 4).map((s) => Number.parseInt(s, 10)) as [number, number, number]
  if (![N, r, p].every((n) => Number.isSafeInteger(n) && n > 0) || (N & (N - 1)) !== 0 || N > 1 << 20) return false
  const salt = Buffer.from(parts[4]!, 'base64')
  const expected = Buffer.from(parts[5]!, 'base64')
  if (salt.length === 0 || expected.length !== KEY_LENGTH) return false
  const actual = await derive(pin, salt, { N, r, p })
  return timingSafeEqual(actual, expected)
}
