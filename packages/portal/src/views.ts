/**
 * What the pages read: the registry's records as plain JSON (times as ISO strings, enums as
 * words), each with its TypeBox schema, which validates nothing coming in but serializes what
 * goes out (fast-json-stringify: fields not in the schema never reach the browser).
 */
import {
  type BranchNode,
  CallDirection,
  type CallRecord,
  type Device,
  type FreeDesk,
  type GetClusterStatusResponse,
  type GetOccupancyReportResponse,
  type OccupancyHours,
  ReleaseReason,
  releaseReasonToJSON,
  type Seat,
  type SeatEvent,
  SeatEventType,
  type SeatHistoryRecord,
  SeatVia,
  seatViaToJSON,
  type Session,
  SessionScope,
  type Site,
  type User,
} from '@flexseat/proto'
import { type Static, Type } from '@sinclair/typebox'

const Time = Type.String({ format: 'date-time' })
const OptionalTime = Type.Union([Time, Type.Null()])

/** A lower-case word of an enum value (`SEAT_VIA_PORTAL` → `portal`). */
function word(text: string, prefix: string): string {
  return text.startsWith(prefix) ? text.slice(prefix.length).toLowerCase().replace(/_/g, '-') : 'unknown'
}

/**
 * Why a seat ended, as a word (`RELEASE_REASON_TIME_LIMIT` → `time-limit`; '' while it lasts).
 * A value this build's enum does not know yet (a newer registry's) is `reason-<number>`, never
 * dropped: the page's label table (web/format.ts) shows it readably.
 */
export function releaseWord(reason: ReleaseReason): string {
  if (reason === ReleaseReason.RELEASE_REASON_UNSPECIFIED) return ''
  const name = releaseReasonToJSON(reason)
  return name.startsWith('RELEASE_REASON_') ? word(name, 'RELEASE_REASON_') : `reason-${Number(reason)}`
}

export const SessionView = Type.Object({
  scope: Type.Union([Type.Literal('worker'), Type.Literal('admin')]),
  userId: Type.String(),
  name: Type.String(),
  expiresAt: Time,
  csrfToken: Type.Optional(Type.String()),
})
export type SessionView = Static<typeof SessionView>

export function sessionView(session: Session): SessionView {
  return {
    scope: session.scope === SessionScope.SESSION_SCOPE_ADMIN ? 'admin' : 'worker',
    userId: session.userId,
    name: session.name,
    expiresAt: (session.expiresAt ?? new Date(0)).toISOString(),
  }
}

export const SeatView = Type.Object({
  userId: Type.String(),
  extension: Type.String(),
  displayName: Type.String(),
  deviceId: Type.String(),
  siteId: Type.String(),
  since: Time,
  /** The time limit (Seat.expires_at): the seat ends then with the reason `time-limit`. */
  expiresAt: OptionalTime,
  /** The daily sign-out (Seat.daily_sign_out_at): the seat ends then with the reason `daily`. */
  dailySignOutAt: OptionalTime,
  /** The policy's local daily sign-out time ("19:00"), '' without one. */
  dailySignOut: Type.String(),
  /** The idle limit in seconds (no call for that long ends the seat: `idle`); 0: none. */
  idleSeconds: Type.Number(),
  /** The last renewal at the desk (Seat.renewed_at): the time limit runs from it. */
  renewedAt: OptionalTime,
  via: Type.String(),
  /** The branches it still waits for (bounded revocation); empty when active. */
  pending: Type.Array(Type.String()),
})
export type SeatView = Static<typeof SeatView>

export function seatView(seat: Seat): SeatView {
  return {
    userId: seat.userId,
    extension: seat.extension,
    displayName: seat.displayName,
    deviceId: seat.deviceId,
    siteId: seat.siteId,
    since: (seat.since ?? new Date(0)).toISOString(),
    expiresAt: seat.expiresAt === undefined ? null : seat.expiresAt.toISOString(),
    dailySignOutAt: seat.dailySignOutAt === undefined ? null : seat.dailySignOutAt.toISOString(),
    dailySignOut: seat.dailySignOut,
    idleSeconds: seat.idleSeconds,
    renewedAt: seat.renewedAt === undefined ? null : seat.renewedAt.toISOString(),
    via: seat.via === SeatVia.SEAT_VIA_UNSPECIFIED ? 'phone' : word(seatViaToJSON(seat.via), 'SEAT_VIA_'),
    pending: seat.pending.map((p) => p.siteId),
  }
}

export const UserView = Type.Object({
  id: Type.String(),
  extension: Type.String(),
  displayName: Type.String(),
  homeSiteId: Type.String(),
  roamingAllowed: Type.Boolean(),
  maxSeatHours: Type.Integer(),
  department: Type.String(),
  email: Type.String(),
  username: Type.String(),
  lockedUntil: OptionalTime,
  hasPin: Type.Boolean(),
  disabled: Type.Boolean(),
  fromDirectory: Type.Boolean(),
  /** Busy lamps watching the worker name the caller: `show`, `hide`, or as the branch sets it. */
  lampCaller: Type.Union([Type.Literal('show'), Type.Literal('hide'), Type.Literal('branch')]),
})
export type UserView = Static<typeof UserView>

export function userView(user: User): UserView {
  return {
    id: user.id,
    extension: user.extension,
    displayName: user.displayName,
    homeSiteId: user.homeSiteId,
    roamingAllowed: user.roamingAllowed,
    maxSeatHours: user.maxSeatHours,
    department: user.department,
    email: user.email,
    username: user.username,
    lockedUntil: user.lockedUntil === undefined ? null : user.lockedUntil.toISOString(),
    hasPin: user.hasPin,
    disabled: user.disabled,
    fromDirectory: user.directoryKey !== '',
    lampCaller: user.showCallerOnLamps === undefined ? 'branch' : user.showCallerOnLamps ? 'show' : 'hide',
  }
}

export const DeviceView = Type.Object({
  id: Type.String(),
  siteId: Type.String(),
  extension: Type.String(),
  label: Type.String(),
  model: Type.String(),
  flexHost: Type.Boolean(),
})
export type DeviceView = Static<typeof DeviceView>

export function deviceView(device: Device): DeviceView {
  return { id: device.id, siteId: device.siteId, extension: device.extension, label: device.label, model: device.model, flexHost: device.flexHost }
}

export const SiteView = Type.Object({ id: Type.String(), name: Type.String(), timezone: Type.String() })
export type SiteView = Static<typeof SiteView>

export function siteView(site: Site): SiteView {
  return { id: site.id, name: site.name, timezone: site.timezone }
}

export const FreeDeskView = Type.Object({ deviceId: Type.String(), siteId: Type.String(), label: Type.String(), extension: Type.String(), online: Type.Boolean() })
export type FreeDeskView = Static<typeof FreeDeskView>

export function freeDeskView(desk: FreeDesk): FreeDeskView {
  return { deviceId: desk.deviceId, siteId: desk.siteId, label: desk.label, extension: desk.extension, online: desk.online }
}

export const HistoryView = Type.Object({
  deviceId: Type.String(),
  siteId: Type.String(),
  extension: Type.String(),
  start: Time,
  end: OptionalTime,
  reason: Type.String(),
  via: Type.String(),
  expiresAt: OptionalTime,
})
export type HistoryView = Static<typeof HistoryView>

export function historyView(record: SeatHistoryRecord): HistoryView {
  return {
    deviceId: record.deviceId,
    siteId: record.siteId,
    extension: record.extension,
    start: (record.start ?? new Date(0)).toISOString(),
    end: record.end === undefined ? null : record.end.toISOString(),
    reason: releaseWord(record.reason),
    via: record.via === SeatVia.SEAT_VIA_UNSPECIFIED ? 'phone' : word(seatViaToJSON(record.via), 'SEAT_VIA_'),
    expiresAt: record.expiresAt === undefined ? null : record.expiresAt.toISOString(),
  }
}

export const CallView = Type.Object({
  /** `incoming` (answered or missed: see `answered`) or `outgoing`. */
  direction: Type.Union([Type.Literal('incoming'), Type.Literal('outgoing')]),
  startedAt: Time,
  otherParty: Type.String(),
  otherPartyName: Type.String(),
  answered: Type.Boolean(),
  durationSeconds: Type.Integer(),
  /** The desk that answered or rang, and its branch (empty when nothing rang). */
  siteId: Type.String(),
  deviceId: Type.String(),
})
export type CallView = Static<typeof CallView>

export function callView(call: CallRecord): CallView {
  return {
    direction: call.direction === CallDirection.CALL_DIRECTION_OUTGOING ? 'outgoing' : 'incoming',
    startedAt: (call.startedAt ?? new Date(0)).toISOString(),
    otherParty: call.otherParty,
    otherPartyName: call.otherPartyName,
    answered: call.answered,
    durationSeconds: call.durationSeconds,
    siteId: call.siteId,
    deviceId: call.deviceId,
  }
}

export const SeatEventView = Type.Object({ type: Type.Union([Type.Literal('seated'), Type.Literal('released')]), seat: SeatView, reason: Type.String() })
export type SeatEventView = Static<typeof SeatEventView>

export function seatEventView(event: SeatEvent): SeatEventView {
  return {
    type: event.type === SeatEventType.SEAT_EVENT_TYPE_RELEASED ? 'released' : 'seated',
    seat: seatView(event.seat!),
    reason: releaseWord(event.reason),
  }
}

export const BranchView = Type.Object({ siteId: Type.String(), leaseHeld: Type.Boolean(), nodeId: Type.String(), onlinePhones: Type.Integer() })
export type BranchView = Static<typeof BranchView>

export const ClusterView = Type.Object({
  leader: Type.Union([Type.Object({ siteId: Type.String(), instanceId: Type.String() }), Type.Null()]),
  instances: Type.Array(Type.Object({ siteId: Type.String(), instanceId: Type.String(), serving: Type.Boolean(), leader: Type.Boolean() })),
  branches: Type.Array(BranchView),
  /** Devices whose phone is registered. */
  online: Type.Array(Type.String()),
})
export type ClusterView = Static<typeof ClusterView>

export function clusterView(status: GetClusterStatusResponse, online: readonly string[]): ClusterView {
  return {
    leader: status.leader === undefined ? null : { siteId: status.leader.siteId, instanceId: status.leader.instanceId },
    instances: status.instances.map((i) => ({ siteId: i.siteId, instanceId: i.instanceId, serving: i.health === 1, leader: i.leader })),
    branches: status.branches.map((b: BranchNode) => ({ siteId: b.siteId, leaseHeld: b.leaseHeld, nodeId: b.nodeId, onlinePhones: b.onlinePhones })),
    online: [...online].sort(),
  }
}

/** An error the page shows: words for a person, the field at fault. */
export const ErrorView = Type.Object({ message: Type.String(), field: Type.Optional(Type.String()), code: Type.String() })
export type ErrorView = Static<typeof ErrorView>

const HoursView = Type.Object({ perDay: Type.Array(Type.Number()), byHour: Type.Array(Type.Number()), total: Type.Number(), seats: Type.Integer() })

/** A branch's occupancy (ReportService.GetOccupancyReport): hours per day and hour, per desk. */
export const OccupancyView = Type.Object({
  siteId: Type.String(),
  timezone: Type.String(),
  days: Type.Array(Type.String()),
  branch: HoursView,
  peakSeats: Type.Integer(),
  peakAt: OptionalTime,
  desks: Type.Array(Type.Object({ deviceId: Type.String(), label: Type.String(), hours: HoursView })),
  unusedDeviceIds: Type.Array(Type.String()),
  until: Time,
})
export type OccupancyView = Static<typeof OccupancyView>

export function occupancyView(r: GetOccupancyReportResponse): OccupancyView {
  const hours = (h: OccupancyHours | undefined) => ({ perDay: h?.perDay ?? [], byHour: h?.byHour ?? [], total: h?.total ?? 0, seats: h?.seats ?? 0 })
  return {
    siteId: r.siteId,
    timezone: r.timezone,
    days: r.days,
    branch: hours(r.branch),
    peakSeats: r.peakSeats,
    peakAt: r.peakAt === undefined ? null : r.peakAt.toISOString(),
    desks: r.desks.map((d) => ({ deviceId: d.deviceId, label: d.label, hours: hours(d.hours) })),
    unusedDeviceIds: r.unusedDeviceIds,
    until: (r.until ?? new Date(0)).toISOString(),
  }
}
