import { isBrokenCircuitError } from 'cockatiel'
import { type ICompare, type IKeyValue, type IRequestOp, isRecoverableError } from 'etcd3'

/** The end of the key range that holds every key starting with `prefix` (etcd's prefix range). */
export function prefixEnd(prefix: string): Buffer {
  const buf = Buffer.from(prefix)
  for (let i = buf.length - 1; i >= 0; i--) {
    if (buf[i]! < 0xff) {
      const end = Buffer.from(buf.subarray(0, i + 1))
      end[i]! += 1
      return end
    }
  }
  return Buffer.from([0])
}

/** Parses a JSON value stored by the registry. */
export function parseJson<T>(kv: IKeyValue): T {
  return JSON.parse(kv.value.toString('utf8')) as T
}

/**
 * One effect of a write transaction. Values are stored as JSON (strings as they are).
 * `lease: 'request'` puts the key on the lease of the request records, so it expires with them.
 */
export type Op =
  | { readonly type: 'put'; readonly key: string; readonly value: unknown; readonly lease?: string }
  | { readonly type: 'delete'; readonly key: string; /** Every key starting with `key`. */ readonly prefix?: boolean }

/** Marks a put to expire with the request records (about a day). */
export const REQUEST_LEASE = 'request'

/** Builds the etcd request op of `op`. */
export function requestOp(op: Op): IRequestOp {
  if (op.type === 'delete') return { request_delete_range: { key: Buffer.from(op.key), ...(op.prefix === true ? { range_end: prefixEnd(op.key) } : {}) } }
  const value = Buffer.from(typeof op.value === 'string' ? op.value : JSON.stringify(op.value))
  return { request_put: { key: Buffer.from(op.key), value, ...(op.lease ? { lease: op.lease } : {}) } }
}

/** Compare: `mod_revision(key) == revision` (0: the key does not exist). */
export function modEquals(key: string, revision: string): ICompare {
  return { key: Buffer.from(key), target: 'Mod', result: 'Equal', mod_revision: revision }
}

/** `create_revision(key) == revision` (0: the key does not exist). */
export function createEquals(key: string, revision: string): ICompare {
  return { key: Buffer.from(key), target: 'Create', result: 'Equal', create_revision: revision }
}

/** No key under `prefix` changed (or appeared) after `revision`. */
export function prefixUnchangedSince(prefix: string, revision: string): ICompare {
  return {
    key: Buffer.from(prefix),
    range_end: prefixEnd(prefix),
    target: 'Mod',
    result: 'Less',
    mod_revision: (BigInt(revision) + 1n).toString(),
  }
}

/**
 * Whether an etcd call failed for a reason of the moment (connection lost, member down, circuit
 * open), so the same call may succeed on another member. The client itself retries nothing
 * (etcd-client.ts); reads retry through {@link retryRead}, writes through the fenced writer.
 */
export function isTransient(error: unknown): boolean {
  return error instanceof Error && (isRecoverableError(error) || isBrokenCircuitError(error))
}

/** Runs a read, again on a transient failure (up to `attempts` times, 100 ms apart at most). */
export async function retryRead<T>(read: () => Promise<T>, attempts = 4): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await read()
    } catch (error) {
      if (attempt >= attempts || !isTransient(error)) throw error
      await new Promise((resolve) => setTimeout(resolve, 25 * attempt).unref())
    }
  }
}
