import {
  type Device,
  type FunctionKey,
  type FunctionKeyProfile,
  FunctionKeyType,
  type PhoneBinding,
  PhoneVendor,
  ReleaseReason,
  type Seat,
  SeatVia,
  type Site,
  type User,
  UserSource,
} from '@flexseat/proto'

/** Stored at `users/<id>`. Holds the PIN only as a scrypt hash. */
export interface UserRecord {
  id: string
  extension: string
  displayName: string
  did: string
  email: string
  mobile: string
  department: string
  homeSiteId: string
  roamingAllowed: boolean
  maxSeatHours: number
  fallback: string
  /** `scrypt$N$r$p$salt$hash` (pin-hash.ts); empty while no PIN is set (users the directory sync creates). */
  pinHash: string
  // Added with the directory sync; absent in records written before it (read as empty / false).
  givenName?: string
  surname?: string
  /** The login name in the company directory. */
  username?: string
  /** The name of the desk's function-key profile (provisioning). */
  functionKeyProfile?: string
  /** Absent: created by hand. `directory`: created by the directory sync, which touches no other user. */
  source?: 'directory'
  /** The directory entry's key attribute value (with source `directory`). */
  directoryKey?: string
  /** May not sign in (the directory disabled the account). */
  disabled?: boolean
  // Added with ring-both (issue 10); absent in records written before it.
  /** The worker's own phone (a device id); empty or absent: none. */
  homeDeviceId?: string
  /** Ring the home device beside the seated desk. */
  ringHomeDevice?: boolean
  // Added with provisioning (the worker's profile at a desk); absent: empty.
  /** The line label at a desk. */
  label?: string
  /** BCP 47 language tag. */
  language?: string
  /** The worker's own keys (the per-user override of the profile). */
  functionKeys?: FunctionKeyRecord[]
  // Added with toll classes (issue 21); absent: the site's.
  /** Toll classes the worker may call from a desk they sit at. */
  callClasses?: string[]
  // Added with per-worker busy lamps (issue 23); absent: the branch's switch.
  /** Whether busy lamps watching the worker name the other party. */
  showCallerOnLamps?: boolean
}

/** One function key as stored. */
export interface FunctionKeyRecord {
  type: 'blf' | 'speed-dial' | 'line'
  value: string
  label: string
}

/** Stored at `profiles/<name>`: a named set of function keys. */
export interface ProfileRecord {
  name: string
  description: string
  keys: FunctionKeyRecord[]
}

/** A phone's SIP digest credentials: never the password, only HA1 for one realm. */
export interface SipCredentials {
  /** The digest realm: the sip_domain of the device's site when the password was set. */
  realm: string
  /** Lowercase hex MD5(device_id:realm:password) (RFC 2617 §3.2.2.2). */
  ha1: string
}

/** Stored at `devices/<id>`. */
export interface DeviceRecord {
  id: string
  siteId: string
  extension: string
  label: string
  model: string
  flexHost: boolean
  /** Absent while no SIP password is set (or since the device moved to another site). */
  sip?: SipCredentials
  /** The desk's floor and room (its dispatchable location with the site's address); absent: none. */
  floor?: string
  room?: string
  // Added with provisioning; absent: none / unspecified.
  /** 12 lower-case hex digits; `macs/<mac>` names the device. */
  mac?: string
  vendor?: 'yealink' | 'snom' | 'poly'
  /** The desk's own profile (while nobody sits at it). */
  functionKeyProfile?: string
  // Added with toll classes (issue 21); absent: the site's.
  /** Toll classes the phone may call when it hosts no flex workers. */
  callClasses?: string[]
}

/** Stored at `sites/<id>`. */
export interface SiteRecord {
  id: string
  name: string
  timezone: string
  emergencyNumbers: string[]
  dispatchableLocation: string
  sipTrunkUri: string
  /** Absent in records written before sip_domain existed. */
  sipDomain?: string
}

/** Stored at `seats/<user>`; its mod revision is the seat epoch. */
export interface SeatRecord {
  userId: string
  extension: string
  displayName: string
  deviceId: string
  siteId: string
  /** ISO time. */
  since: string
  /** ISO time; absent without a time limit. */
  expiresAt?: string
  via: 'phone' | 'admin' | 'softkey' | 'portal'
  /** Branches that still have to drop the worker's previous seat (invariant 4); absent when active. */
  pending?: PendingRecord[]
  // Added with sign-out policies (issue 19, seat-policy.ts): computed at login from the effective
  // policy; absent in seats written before, and for settings the policy leaves off.
  /** ISO time of the daily sign-out (reason DAILY). */
  dailyAt?: string
  /** The policy's local daily sign-out time ("19:00"), for the desk's messages. */
  dailySignOut?: string
  /** Idle limit in seconds (reason IDLE): no call to or from the worker at the desk for that long. */
  idleSeconds?: number
  /** An end due during a call waits for the call's end, at most this many seconds; absent: it does not wait. */
  deferSeconds?: number
  /** The desk is warned this many seconds before a scheduled end. */
  warnSeconds?: number
  /** ISO time of the seat's last renewal at its desk (seat-renewal.ts): the idle clock runs from it. */
  renewedAt?: string
  /** ISO time of the last change of what the desk shows (label, language, keys) while seated. */
  profileAt?: string
}

/**
 * Stored at `activity/<user>` (call-activity.ts): the worker's calls in progress at the desk they
 * sit at, as the SIP nodes report them, and when the last one ended. Not part of the seat record,
 * so that calls do not change the seat epoch.
 */
export interface ActivityRecord {
  /**
   * The calls in progress, by call id: the site that reported each, and since when (ISO); the
   * rest (state, direction, desk, caller's tag, other party) for the busy lamps (dialog-watch.ts;
   * absent in records written before them).
   */
  calls: Record<string, ActivityCall>
  /** ISO time of the last call start or end. */
  lastActivity: string
}

/** One call in progress of an {@link ActivityRecord}. */
export interface ActivityCall {
  siteId: string
  since: string
  /** `early` or `confirmed` (absent: early). */
  state?: 'early' | 'confirmed'
  direction?: 'in' | 'out'
  deviceId?: string
  callerTag?: string
  otherParty?: string
  otherPartyName?: string
}

/** A previous seat of the worker that a branch's SIP node has still to drop. */
export interface PendingRecord {
  siteId: string
  deviceId: string
  /** The epoch of that previous seat. */
  epoch: string
  /** ISO time the registry started waiting. */
  since: string
  /** W3C traceparent of the write that made the move, when it was traced (the old node links to it). */
  traceParent?: string
}

/**
 * Stored at `nodes/<site>`, on the etcd lease it names: who holds the branch's confirmation
 * lease. The grant revision is the key's create revision (a transaction cannot store its own).
 */
export interface NodeLeaseRecord {
  nodeId: string
  /** The etcd lease id (decimal string). */
  leaseId: string
}

/**
 * Stored at `renewals/<site>`, on the same etcd lease as `nodes/<site>`: the last renewal of the
 * branch's confirmation lease, written (fenced, after etcd's keepalive answered) by every renewal
 * before the node is told it succeeded. Its mod revision tells the leader whether a renewal it
 * does not know of happened (docs/OPERATIONS.md, "Bounded revocation").
 */
export interface RenewalRecord extends NodeLeaseRecord {
  /** The lease's TTL as the node was told it, in seconds. */
  leaseSeconds: number
}

/**
 * Stored at `revoking/<user>` while the user has no seat: the revocations their released seat
 * left outstanding (its own `pending`, plus its branch when it was active there and the branch's
 * node held a confirmation lease). The user's next seat takes them over as its `pending`.
 */
export type RevokingRecord = PendingRecord[]

/**
 * Stored at `revocations/<site>/<user>`; its mod revision is the revision of the revocation (the
 * move or the release that left the branch).
 */
export interface RevocationIndexRecord {
  /** The epoch of the previous seat (the pending entry's epoch). */
  epoch: string
}

/**
 * Stored at `bindings/<site>/<device>`: a phone's registration as the site's SIP node reported it
 * (BranchService.ReportBindings). Readers ignore it once `expiresAt` has passed.
 */
export interface BindingRecord {
  deviceId: string
  siteId: string
  /** The Contact URI of the REGISTER. */
  contact: string
  /** transport:address:port the REGISTER came from. */
  source: string
  userAgent: string
  /** ISO time the registration ends. */
  expiresAt: string
  /** ISO time the phone registered with this contact. */
  registeredAt: string
  /** The node that reported it last (not returned; for operators reading etcd). */
  nodeId: string
}

/** Stored at `seats-released/<user>` in the transaction that ends the seat. */
export interface ReleaseRecord {
  reason: ReleaseReason
  seat: SeatRecord
  /** The epoch of the seat that ended. */
  epoch: string
  /** ISO time of the release. */
  at: string
}

/** The value of `ext/<extension>`: who owns the extension. */
export type ExtensionOwner = `user:${string}` | `device:${string}`

export function userOwner(id: string): ExtensionOwner { return `user:${id}` }
export function deviceOwner(id: string): ExtensionOwner { return `device:${id}` }

/** The API view of a stored user (never the PIN hash); `revision` is the record's mod revision. */
export function toUser(record: UserRecord, revision: string, lockedUntil?: Date): User {
  return {
    id: record.id,
    extension: record.extension,
    displayName: record.displayName,
    did: record.did,
    email: record.email,
    mobile: record.mobile,
    department: record.department,
    homeSiteId: record.homeSiteId,
    roamingAllowed: record.roamingAllowed,
    maxSeatHours: record.maxSeatHours,
    fallback: record.fallback,
    lockedUntil,
    revision,
    givenName: record.givenName ?? '',
    surname: record.surname ?? '',
    username: record.username ?? '',
    source: record.source === 'directory' ? UserSource.USER_SOURCE_DIRECTORY : UserSource.USER_SOURCE_MANUAL,
    directoryKey: record.directoryKey ?? '',
    disabled: record.disabled === true,
    functionKeyProfile: record.functionKeyProfile ?? '',
    hasPin: record.pinHash !== '',
    homeDeviceId: record.homeDeviceId ?? '',
    ringHomeDevice: record.ringHomeDevice === true,
    label: record.label ?? '',
    language: record.language ?? '',
    functionKeys: (record.functionKeys ?? []).map(toFunctionKey),
    callClasses: record.callClasses === undefined ? undefined : { classes: [...record.callClasses] },
    showCallerOnLamps: record.showCallerOnLamps,
  }
}

const KEY_TYPES: Record<FunctionKeyRecord['type'], FunctionKeyType> = {
  blf: FunctionKeyType.FUNCTION_KEY_TYPE_BLF,
  'speed-dial': FunctionKeyType.FUNCTION_KEY_TYPE_SPEED_DIAL,
  line: FunctionKeyType.FUNCTION_KEY_TYPE_LINE,
}

/** The API view of a stored function key. */
export function toFunctionKey(record: FunctionKeyRecord): FunctionKey {
  return { type: KEY_TYPES[record.type], value: record.value, label: record.label }
}

/** The stored form of a validated function key (its type is BLF, SPEED_DIAL or LINE). */
export function functionKeyRecord(key: FunctionKey): FunctionKeyRecord {
  const type = (Object.keys(KEY_TYPES) as FunctionKeyRecord['type'][]).find((name) => KEY_TYPES[name] === key.type) ?? 'line'
  return { type, value: key.value, label: key.label }
}

/** The API view of a stored profile. */
export function toProfile(record: ProfileRecord, revision: string): FunctionKeyProfile {
  return { name: record.name, description: record.description, keys: record.keys.map(toFunctionKey), revision }
}

const VENDORS: Record<NonNullable<DeviceRecord['vendor']>, PhoneVendor> = {
  yealink: PhoneVendor.PHONE_VENDOR_YEALINK,
  snom: PhoneVendor.PHONE_VENDOR_SNOM,
  poly: PhoneVendor.PHONE_VENDOR_POLY,
}

/** The stored form of a phone vendor (undefined: unspecified, the generic format). */
export function vendorRecord(vendor: PhoneVendor): DeviceRecord['vendor'] {
  return (Object.keys(VENDORS) as NonNullable<DeviceRecord['vendor']>[]).find((name) => VENDORS[name] === vendor)
}

/** The API view of a stored device. */
export function toDevice(record: DeviceRecord, revision: string): Device {
  return {
    id: record.id,
    siteId: record.siteId,
    extension: record.extension,
    label: record.label,
    model: record.model,
    flexHost: record.flexHost,
    revision,
    // Write-only: never returned.
    sipPassword: undefined,
    hasSipPassword: record.sip !== undefined,
    floor: record.floor ?? '',
    room: record.room ?? '',
    mac: record.mac ?? '',
    vendor: record.vendor === undefined ? PhoneVendor.PHONE_VENDOR_UNSPECIFIED : VENDORS[record.vendor],
    functionKeyProfile: record.functionKeyProfile ?? '',
    callClasses: record.callClasses === undefined ? undefined : { classes: [...record.callClasses] },
  }
}

/** The API view of a stored site. */
export function toSite(record: SiteRecord, revision: string): Site {
  return { ...record, emergencyNumbers: [...record.emergencyNumbers], sipDomain: record.sipDomain ?? '', revision }
}

const SEAT_VIAS: Record<SeatRecord['via'], SeatVia> = {
  phone: SeatVia.SEAT_VIA_PHONE,
  admin: SeatVia.SEAT_VIA_ADMIN,
  softkey: SeatVia.SEAT_VIA_SOFTKEY,
  portal: SeatVia.SEAT_VIA_PORTAL,
}

/** The API view of how a seat came to be (records from before `via` existed read as the phone). */
export function seatVia(via: SeatRecord['via'] | undefined): SeatVia {
  return (via === undefined ? undefined : SEAT_VIAS[via]) ?? SeatVia.SEAT_VIA_PHONE
}

/** The API view of a stored seat; `epoch` is the mod revision of `seats/<user>`. */
export function toSeat(record: SeatRecord, epoch: string): Seat {
  return {
    userId: record.userId,
    extension: record.extension,
    displayName: record.displayName,
    deviceId: record.deviceId,
    siteId: record.siteId,
    since: new Date(record.since),
    expiresAt: record.expiresAt === undefined ? undefined : new Date(record.expiresAt),
    via: seatVia(record.via),
    epoch,
    pending: (record.pending ?? []).map((p) => ({ siteId: p.siteId, deviceId: p.deviceId, epoch: p.epoch, since: new Date(p.since), traceParent: p.traceParent ?? '' })),
    dailySignOutAt: record.dailyAt === undefined ? undefined : new Date(record.dailyAt),
    idleSeconds: record.idleSeconds ?? 0,
    dailySignOut: record.dailySignOut ?? '',
    warnSeconds: record.warnSeconds ?? 0,
    renewedAt: record.renewedAt === undefined ? undefined : new Date(record.renewedAt),
    profileChangedAt: record.profileAt === undefined ? undefined : new Date(record.profileAt),
  }
}

/** The API view of a stored phone binding. */
export function toPhoneBinding(record: BindingRecord): PhoneBinding {
  return {
    deviceId: record.deviceId,
    siteId: record.siteId,
    contact: record.contact,
    source: record.source,
    userAgent: record.userAgent,
    expiresAt: new Date(record.expiresAt),
    registeredAt: new Date(record.registeredAt),
  }
}
