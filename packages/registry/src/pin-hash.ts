import { randomBytes, scrypt, timingSafeEqual } from 'node:crypto'

/** scrypt cost parameters. */
export interface ScryptParams {
  /** CPU/memory cost, a power of two (default 16384). */
  N: number
  /** Block size (default 8). */
  r: number
  /** Parallelism (default 1). */
  p: number
}

/** OWASP's minimum for scrypt (N=2^14, r=8, p=1): about 16 MiB and a few tens of ms per hash. */
export const DEFAULT_SCRYPT: Readonly<ScryptParams> = { N: 16_384, r: 8, p: 1 }

const KEY_LENGTH = 32
const SALT_LENGTH = 16

function derive(pin: string, salt: Buffer, params: ScryptParams): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    scrypt(pin, salt, KEY_LENGTH, { N: params.N, r: params.r, p: params.p, maxmem: 256 * params.N * params.r + 1_048_576 }, (error, key) =>
      error ? reject(error) : resolve(key),
    )
  })
}

/**
 * Hashes a PIN for storage as `scrypt$N$r$p$<salt base64>$<hash base64>`, with a fresh random salt.
 * The PIN itself is never stored.
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
