import type { Etcd3, IKeyValue } from 'etcd3'
import { invalidArgument } from './errors'
import { prefixEnd } from './kv'

/** Page size when the request gives none. */
export const DEFAULT_PAGE_SIZE = 100
/** Larger requests are served this many. */
export const MAX_PAGE_SIZE = 1000

/** The page size to serve for a requested one (0: default; above the maximum: the maximum). */
export function pageSize(requested: number): number {
  return requested <= 0 ? DEFAULT_PAGE_SIZE : Math.min(requested, MAX_PAGE_SIZE)
}

/** An opaque page token: the last id served, base64url-encoded JSON. */
function encodeToken(lastId: string): string {
  return Buffer.from(JSON.stringify({ after: lastId })).toString('base64url')
}

function decodeToken(token: string, field: string): string {
  try {
    const parsed = JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as { after?: unknown }
    if (typeof parsed.after === 'string' && parsed.after.length > 0 && parsed.after.length <= 256) return parsed.after
  } catch {
    // fall through
  }
  throw invalidArgument(field, 'is not a token from a previous response')
}

/** One page of a listing and the revision it was read at. */
export interface Page<T> {
  items: T[]
  nextPageToken: string
  revision: string
}

/**
 * Lists the records under `folder` in key order, keeping those `pick` returns, one page at a
 * time. The page is read at one revision (the first batch's).
 */
export async function listPage<T>(
  etcd: Etcd3,
  folder: string,
  request: { pageSize: number; pageToken: string },
  pick: (kv: IKeyValue) => T | undefined,
  tokenField = 'page_token',
): Promise<Page<T>> {
  const size = pageSize(request.pageSize)
  let start = request.pageToken === '' ? Buffer.from(folder) : Buffer.from(`${folder}${decodeToken(request.pageToken, tokenField)}\0`)
  const end = prefixEnd(folder)
  const items: T[] = []
  let revision: string | undefined
  let lastId = ''
  for (;;) {
    const res = await etcd.kv.range({ key: start, range_end: end, limit: Math.max(size + 1, 100), ...(revision ? { revision } : {}) })
    revision ??= res.header.revision
    for (let i = 0; i < res.kvs.length; i++) {
      const kv = res.kvs[i]!
      const item = pick(kv)
      if (item === undefined) continue
      if (items.length === size) return { items, nextPageToken: encodeToken(lastId), revision }
      items.push(item)
      lastId = kv.key.toString('utf8').slice(folder.length)
    }
    const last = res.kvs[res.kvs.length - 1]
    if (!res.more || !last) return { items, nextPageToken: '', revision }
    start = Buffer.concat([last.key, Buffer.from([0])])
  }
}
