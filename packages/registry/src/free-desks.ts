import type { IKeyValue } from 'etcd3'
import type { FreeDesk, ListFreeDesksRequest, ListFreeDesksResponse } from '@flexseat/proto'
import { invalidArgument } from './errors'
import type { Keys } from './keys'
import { parseJson } from './kv'
import { bindingLive } from './phone-bindings'
import type { DeviceRecord } from './records'
import * as v from './validate'

/** Desks one ListFreeDesks returns by default, and at most. */
const DEFAULT_LIMIT = 100
const MAX_LIMIT = 1_000
const MAX_FILTER = 64

/** Validates a ListFreeDesks request (INVALID_ARGUMENT naming the field). */
export function validateFreeDesks(req: ListFreeDesksRequest): void {
  if (req.siteId !== '') v.id(req.siteId, 'site_id')
  if (req.labelContains.length > MAX_FILTER) throw invalidArgument('label_contains', `must be at most ${MAX_FILTER} characters`)
  v.text(req.labelContains, 'label_contains')
  if (req.limit > MAX_LIMIT) throw invalidArgument('limit', `must be at most ${MAX_LIMIT}`)
}

/**
 * The flex desks a worker may sit down at now, from one snapshot of the devices, the desks' host
 * keys (`hosts/<device>`, written for active and pending seats alike) and the phones' bindings:
 * flex hosts that host nobody, of the site asked for, whose label or id contains the text
 * (ignoring case), in site then id order. Pure.
 */
export function freeDesks(keys: Keys, req: ListFreeDesksRequest, devices: readonly IKeyValue[], hosts: readonly IKeyValue[], bindings: readonly IKeyValue[], now: number): ListFreeDesksResponse {
  const taken = new Set(hosts.map((kv) => kv.key.toString('utf8').slice(keys.hosts.length)))
  const online = new Set(bindings.filter((kv) => bindingLive(kv, now)).map((kv) => kv.key.toString('utf8').slice(keys.bindings.length)))
  const text = req.labelContains.trim().toLowerCase()
  const limit = req.limit === 0 ? DEFAULT_LIMIT : req.limit
  const matching: FreeDesk[] = devices
    .map((kv) => parseJson<DeviceRecord>(kv))
    .filter((d) => d.flexHost && !taken.has(d.id) && (req.siteId === '' || d.siteId === req.siteId))
    .filter((d) => text === '' || d.label.toLowerCase().includes(text) || d.id.includes(text))
    .sort((a, b) => (a.siteId === b.siteId ? (a.id < b.id ? -1 : 1) : a.siteId < b.siteId ? -1 : 1))
    .map((d) => ({ deviceId: d.id, siteId: d.siteId, label: d.label, extension: d.extension, online: online.has(`${d.siteId}/${d.id}`) }))
  return { desks: matching.slice(0, limit), truncated: matching.length > limit }
}
