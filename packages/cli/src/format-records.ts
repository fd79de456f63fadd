import {
  type BranchNode,
  type Device,
  type GetClusterStatusResponse,
  type Instance,
  InstanceHealth,
  instanceHealthToJSON,
  type PhoneBinding,
  PhoneVendor,
  ReleaseReason,
  releaseReasonToJSON,
  type Seat,
  type SeatChanges,
  type SeatEvent,
  SeatEventType,
  type SeatSnapshot,
  SeatVia,
  seatViaToJSON,
  type Site,
  SnapshotReason,
  type User,
  UserSource,
} from '@flexseat/proto'
import { formatFunctionKey, vendorName } from './function-keys'
import { type Column, formatFields, formatTable, formatTime } from './format-table'

/** An enum value's JSON name without its prefix, in lower case: SEAT_VIA_ADMIN → "admin". */
function enumWord(json: string, prefix: string): string {
  return json.startsWith(prefix) ? json.slice(prefix.length).toLowerCase().replaceAll('_', ' ') : json.toLowerCase()
}

/** How a seat came to be, as one word ("phone", "admin"; "-" when unspecified). */
export function viaWord(via: SeatVia): string {
  return via === SeatVia.SEAT_VIA_UNSPECIFIED ? '-' : enumWord(seatViaToJSON(via), 'SEAT_VIA_')
}

/** Why a seat ended, as one word ("logout", "moved", ...; "-" when unspecified). */
export function reasonWord(reason: ReleaseReason): string {
  return reason === ReleaseReason.RELEASE_REASON_UNSPECIFIED ? '-' : enumWord(releaseReasonToJSON(reason), 'RELEASE_REASON_')
}

function yesNo(value: boolean): string {
  return value ? 'yes' : 'no'
}

/** Where a user comes from: "directory" (the directory sync created it, "…, disabled" while disabled there) or "manual". */
export function sourceWord(user: User): string {
  if (user.source !== UserSource.USER_SOURCE_DIRECTORY) return 'manual'
  return user.disabled ? 'directory, disabled' : 'directory'
}

/** A user on its own. */
export function formatUser(user: User): string {
  const fromDirectory = user.source === UserSource.USER_SOURCE_DIRECTORY
  return formatFields([
    ['id', user.id],
    ['extension', user.extension],
    ['name', user.displayName],
    ['given name', user.givenName === '' ? undefined : user.givenName],
    ['surname', user.surname === '' ? undefined : user.surname],
    ['username', user.username === '' ? undefined : user.username],
    ['source', sourceWord(user)],
    ['directory key', fromDirectory ? user.directoryKey : undefined],
    ['PIN', user.hasPin ? 'set' : 'not set (an administrator sets one: user reset-pin)'],
    ['home site', user.homeSiteId],
    ['did', user.did],
    ['email', user.email],
    ['mobile', user.mobile],
    ['department', user.department],
    ['roaming', yesNo(user.roamingAllowed)],
    ['max seat hours', user.maxSeatHours === 0 ? 'no limit' : String(user.maxSeatHours)],
    ['fallback', user.fallback],
    ['function keys', user.functionKeyProfile === '' ? undefined : user.functionKeyProfile],
    ['label', user.label === '' ? undefined : user.label],
    ['language', user.language === '' ? undefined : user.language],
    ['caller on lamps', user.showCallerOnLamps === undefined ? undefined : user.showCallerOnLamps ? 'shown' : 'hidden'],
    ['own keys', user.functionKeys.length === 0 ? undefined : user.functionKeys.map(formatFunctionKey).join(', ')],
    ['locked until', user.lockedUntil === undefined ? undefined : formatTime(user.lockedUntil)],
    ['revision', user.revision],
  ])
}

/** Users as a table. */
export function formatUsers(users: readonly User[]): string {
  return formatTable(
    ['ID', 'EXTENSION', 'NAME', 'HOME', 'ROAMING', { heading: 'MAX HOURS', align: 'right' }, 'SOURCE', 'PIN', 'LOCKED UNTIL'],
    users.map((u) => [
      u.id,
      u.extension,
      u.displayName,
      u.homeSiteId,
      yesNo(u.roamingAllowed),
      u.maxSeatHours === 0 ? '-' : String(u.maxSeatHours),
      sourceWord(u),
      u.hasPin ? 'set' : 'none',
      formatTime(u.lockedUntil),
    ]),
  )
}

/** A device on its own. */
export function formatDevice(device: Device): string {
  return formatFields([
    ['id', device.id],
    ['site', device.siteId],
    ['extension', device.extension],
    ['label', device.label],
    ['model', device.model],
    ['flex host', yesNo(device.flexHost)],
    ['mac', device.mac === '' ? undefined : device.mac],
    ['vendor', vendorName(device.vendor ?? PhoneVendor.PHONE_VENDOR_UNSPECIFIED)],
    ['function keys', device.functionKeyProfile === '' ? undefined : device.functionKeyProfile],
    ['sip password', device.hasSipPassword === true ? 'set' : 'not set'],
    ['revision', device.revision],
  ])
}

/** Devices as a table. */
export function formatDevices(devices: readonly Device[]): string {
  return formatTable(
    ['ID', 'SITE', 'EXTENSION', 'LABEL', 'MODEL', 'FLEX HOST', 'SIP PASSWORD'],
    devices.map((d) => [d.id, d.siteId, d.extension, d.label, d.model, yesNo(d.flexHost), d.hasSipPassword === true ? 'set' : 'not set']),
  )
}

/** A site on its own. */
export function formatSite(site: Site): string {
  return formatFields([
    ['id', site.id],
    ['name', site.name],
    ['timezone', site.timezone],
    ['emergency numbers', site.emergencyNumbers.join(', ')],
    ['location', site.dispatchableLocation],
    ['trunk', site.sipTrunkUri],
    ['sip domain', site.sipDomain ?? ''],
    ['revision', site.revision],
  ])
}

/** Sites as a table. */
export function formatSites(sites: readonly Site[]): string {
  return formatTable(
    ['ID', 'NAME', 'TIMEZONE', 'EMERGENCY', 'TRUNK'],
    sites.map((s) => [s.id, s.name, s.timezone, s.emergencyNumbers.join(','), s.sipTrunkUri]),
  )
}

const SEAT_COLUMNS: readonly Column[] = [
  { heading: 'EXTENSION' },
  { heading: 'NAME' },
  { heading: 'DEVICE' },
  { heading: 'SITE' },
  { heading: 'SINCE' },
  { heading: 'EXPIRES' },
  { heading: 'VIA' },
  { heading: 'EPOCH', align: 'right' },
]

/** Seats as a table: extension, name, device, site (and what it waits for), since, expires, via, epoch. */
export function formatSeats(seats: readonly Seat[]): string {
  return formatTable(
    SEAT_COLUMNS,
    seats.map((s) => [
      s.extension,
      s.displayName,
      s.deviceId,
      s.pending.length === 0 ? s.siteId : `${s.siteId} (${pendingWords(s)})`,
      formatTime(s.since),
      formatTime(s.expiresAt),
      viaWord(s.via),
      s.epoch,
    ]),
  )
}

/**
 * The branches a pending seat waits for (bounded revocation): "pending: amsterdam". The phone
 * does not act for the worker until they acknowledge or their lease runs out.
 */
export function pendingWords(seat: Pick<Seat, 'pending'>): string {
  return `pending: ${seat.pending.map((p) => p.siteId).join(', ')}`
}

/** Where a seat is, as "desk-3@berlin". */
export function seatPlace(seat: Seat): string {
  return `${seat.deviceId}@${seat.siteId}`
}

/** A seat in one sentence: "1001 (Ada Lovelace) at desk-3@berlin since ..., via admin, epoch 42[, pending: amsterdam]". */
export function describeSeat(seat: Seat): string {
  const who = seat.displayName === '' ? seat.extension : `${seat.extension} (${seat.displayName})`
  const until = seat.expiresAt === undefined ? '' : `, until ${formatTime(seat.expiresAt)}`
  const pending = seat.pending.length === 0 ? '' : `, ${pendingWords(seat)}`
  return `${who} at ${seatPlace(seat)} since ${formatTime(seat.since)}${until}, via ${viaWord(seat.via)}, epoch ${seat.epoch}${pending}`
}

/** Phones registered at their branches as a table: device, site, contact, expires. */
export function formatBindings(bindings: readonly PhoneBinding[]): string {
  return formatTable(
    ['DEVICE', 'SITE', 'CONTACT', 'EXPIRES'],
    bindings.map((b) => [b.deviceId, b.siteId, b.contact, formatTime(b.expiresAt)]),
  )
}

function phones(count: number): string {
  return `${count} phone${count === 1 ? '' : 's'} online`
}

/**
 * A branch in one line: "SIP node: held by amsterdam-1a2b3c4d, 3 phones online", or "no SIP
 * node, 1 phone online" when no node holds the site's confirmation lease.
 */
export function describeBranch(branch: BranchNode): string {
  return branch.leaseHeld ? `SIP node: held by ${branch.nodeId}, ${phones(branch.onlinePhones)}` : `no SIP node, ${phones(branch.onlinePhones)}`
}

/** The readable status of the cluster: the leader, then every instance, then every branch. */
export function formatClusterStatus(status: GetClusterStatusResponse): string {
  const leader = status.leader
  const head = formatFields([
    ['leader', leader === undefined ? 'none (election under way)' : `${leader.instanceId} (${leader.siteId}, ${leader.address})`],
    ['since', leader === undefined ? undefined : formatTime(status.leaderSince)],
    ['answered by', status.answeredBy],
    ['revision', status.revision],
  ])
  const instances = [...status.instances].sort((a, b) => a.siteId.localeCompare(b.siteId) || a.instanceId.localeCompare(b.instanceId))
  return (
    head +
    '\n' +
    formatTable(
      ['INSTANCE', 'SITE', 'ADDRESS', 'HEALTH', 'VERSION', 'STARTED', 'LEADER'],
      instances.map((i: Instance) => [i.instanceId, i.siteId, i.address, healthWord(i.health), i.version, formatTime(i.startedAt), i.leader ? 'yes' : ''])
    ) +
    '\n' +
    (status.branches.length === 0
      ? 'branches  none (no SIP node holds a lease, no phone is registered)\n'
      : formatFields([...status.branches].sort((a, b) => a.siteId.localeCompare(b.siteId)).map((b) => [`branch ${b.siteId}`, describeBranch(b)])))
  )
}

function healthWord(health: InstanceHealth): string {
  return health === InstanceHealth.INSTANCE_HEALTH_UNSPECIFIED ? '-' : enumWord(instanceHealthToJSON(health), 'INSTANCE_HEALTH_')
}

/**
 * One line per seat event: time, SEATED/RELEASED, extension, device@site, reason (how the seat
 * came to be, or why it ended), epoch. A seated event is timed by the seat's `since`; a release
 * carries no time of its own, so it is timed by `receivedAt`.
 */
export function formatSeatEvent(event: SeatEvent, receivedAt: Date): string {
  const seat = event.seat
  const released = event.type === SeatEventType.SEAT_EVENT_TYPE_RELEASED
  const type = released ? 'RELEASED' : event.type === SeatEventType.SEAT_EVENT_TYPE_SEATED ? 'SEATED' : 'UNKNOWN'
  const time = released || seat?.since === undefined ? receivedAt : seat.since
  const why = released ? reasonWord(event.reason) : seat === undefined ? '-' : viaWord(seat.via)
  const epoch = released || seat === undefined ? event.revision : seat.epoch
  return [formatTime(time), type.padEnd(8), (seat?.extension ?? '-').padEnd(6), seat === undefined ? '-' : seatPlace(seat), why, `epoch ${epoch}`].join('  ')
}

/** One {@link formatSeatEvent} line (newline-terminated) per event of one revision, in order. */
export function formatSeatChanges(changes: SeatChanges, receivedAt: Date): string {
  return changes.events.map((event) => formatSeatEvent(event, receivedAt) + '\n').join('')
}

/**
 * The readable form of a snapshot: a heading line, then one SEATED line per seat. A snapshot
 * after compaction replaces the whole view, which the heading says.
 */
export function formatSeatSnapshot(snapshot: SeatSnapshot): string {
  const what = snapshot.reason === SnapshotReason.SNAPSHOT_REASON_COMPACTED ? 'snapshot (history compacted: view replaced)' : 'snapshot'
  const head = `# ${what} at revision ${snapshot.revision}: ${snapshot.seats.length} seat${snapshot.seats.length === 1 ? '' : 's'}\n`
  return (
    head +
    snapshot.seats
      .map((seat) => formatSeatEvent({ type: SeatEventType.SEAT_EVENT_TYPE_SEATED, seat, reason: 0, revision: seat.epoch }, seat.since ?? new Date()) + '\n')
      .join('')
  )
}
