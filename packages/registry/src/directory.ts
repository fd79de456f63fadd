import { createHash } from 'node:crypto'
import {
  type ChangePinResponse,
  type CreateDeviceResponse,
  type CreateSiteResponse,
  type CreateUserResponse,
  type DeleteDeviceResponse,
  type DeleteSiteResponse,
  type DeleteUserResponse,
  type Device,
  ErrorCode,
  FunctionKeyType,
  PhoneVendor,
  ReleaseReason,
  type ResetPinResponse,
  type ClearLockoutResponse,
  type Site,
  type UpdateDeviceResponse,
  type UpdateSiteResponse,
  type UpdateUserResponse,
  type User,
} from '@flexseat/proto'
import { RegistryError, invalidArgument } from './errors'
import type { TxnReader, WritePlan } from './fenced-writer'
import type { Keys } from './keys'
import { type Op, parseJson } from './kv'
import { clearDesk, type LockoutRecord, lockFor, recordFailure, recordSuccess, shownLock } from './lockout'
import { withPinEvent } from './pin-events'
import { verifyPin } from './pin-hash'
import {
  type DeviceRecord,
  type SeatRecord,
  type SipCredentials,
  type SiteRecord,
  type UserRecord,
  deviceOwner,
  functionKeyRecord,
  toDevice,
  toSite,
  toUser,
  userOwner,
  vendorRecord,
} from './records'
import { type SeatContext, lockedOut, pendingOfNewSeat, releaseOps, userByExtension, signInRefusal, wrongPin } from './seats'
import * as v from './validate'

/** Fields UpdateUser may change (proto names). */
export const USER_WRITABLE = [
  'extension',
  'display_name',
  'did',
  'email',
  'mobile',
  'department',
  'home_site_id',
  'roaming_allowed',
  'max_seat_hours',
  'fallback',
  'given_name',
  'surname',
  'username',
  'function_key_profile',
  'home_device_id',
  'ring_home_device',
  'label',
  'language',
  'function_keys',
  'call_classes',
  'show_caller_on_lamps',
] as const
/** The worker's desk profile, which the company directory has no place for: administrators set it. */
const USER_PROFILE_FIELDS: readonly string[] = ['fallback', 'label', 'language', 'function_keys', 'show_caller_on_lamps']
/**
 * Fields the directory owns nothing of (an administrator's routing choices): the directory sync
 * neither sets nor clears them.
 */
const USER_ROUTING_FIELDS: readonly string[] = ['fallback', 'home_device_id', 'ring_home_device', 'call_classes']
/**
 * Fields the directory sync sets from an entry and its department's template (every one, on
 * every change it applies): the writable fields but the routing ones (fallback, home device) and
 * the worker's desk profile (label, language, own keys; the template's `function_key_profile` is
 * the directory's), plus `disabled`, which only the directory sets.
 */
export const USER_DIRECTORY_FIELDS = [...USER_WRITABLE.filter((f) => !USER_ROUTING_FIELDS.includes(f) && !USER_PROFILE_FIELDS.includes(f)), 'disabled'] as const
/** Fields UpdateDevice may change. */
export const DEVICE_WRITABLE = ['site_id', 'extension', 'label', 'model', 'flex_host', 'floor', 'room', 'mac', 'vendor', 'function_key_profile', 'call_classes'] as const
/**
 * Paths UpdateDevice's update_mask may name: the writable fields and the write-only
 * `sip_password` (an empty mask sets the password only when one is given).
 */
export const DEVICE_MASKABLE = [...DEVICE_WRITABLE, 'sip_password'] as const
/** Fields UpdateSite may change. */
export const SITE_WRITABLE = ['name', 'timezone', 'emergency_numbers', 'dispatchable_location', 'sip_trunk_uri', 'sip_domain'] as const

const notFound = (code: ErrorCode, what: string, id: string) => new RegistryError(code, `no ${what} "${id}"`)
const userNotFound = (id: string) => notFound(ErrorCode.ERROR_CODE_USER_NOT_FOUND, 'user', id)
const deviceNotFound = (id: string) => notFound(ErrorCode.ERROR_CODE_DEVICE_NOT_FOUND, 'device', id)
const siteNotFound = (id: string) => notFound(ErrorCode.ERROR_CODE_SITE_NOT_FOUND, 'site', id)
const alreadyExists = (what: string, id: string) => new RegistryError(ErrorCode.ERROR_CODE_ALREADY_EXISTS, `${what} "${id}" exists already`)
const extensionTaken = (extension: string) => new RegistryError(ErrorCode.ERROR_CODE_EXTENSION_TAKEN, `extension ${extension} belongs to another user or device`)
const macTaken = (mac: string) => new RegistryError(ErrorCode.ERROR_CODE_MAC_TAKEN, `MAC address ${mac} belongs to another device`)
/** The function-key types, for validation. */
export const KEY_TYPES = { blf: FunctionKeyType.FUNCTION_KEY_TYPE_BLF, speedDial: FunctionKeyType.FUNCTION_KEY_TYPE_SPEED_DIAL, line: FunctionKeyType.FUNCTION_KEY_TYPE_LINE }

// ---- validation (throws INVALID_ARGUMENT naming the field; runs before anything is read) ----

/** Validates the fields of `user` named in `fields` (all writable fields on create). */
export function validateUserFields(user: User, fields: ReadonlySet<string>, f = 'user'): void {
  if (fields.has('extension')) v.extension(user.extension, `${f}.extension`)
  if (fields.has('display_name')) v.text(user.displayName, `${f}.display_name`)
  if (fields.has('did')) v.e164(user.did, `${f}.did`)
  if (fields.has('email')) v.email(user.email, `${f}.email`)
  if (fields.has('mobile')) v.phone(user.mobile, `${f}.mobile`)
  if (fields.has('department')) v.text(user.department, `${f}.department`)
  if (fields.has('home_site_id')) v.id(user.homeSiteId, `${f}.home_site_id`)
  if (fields.has('max_seat_hours')) v.hours(user.maxSeatHours, `${f}.max_seat_hours`)
  if (fields.has('fallback')) v.fallback(user.fallback, `${f}.fallback`)
  if (fields.has('given_name')) v.text(user.givenName, `${f}.given_name`)
  if (fields.has('surname')) v.text(user.surname, `${f}.surname`)
  if (fields.has('username')) v.text(user.username, `${f}.username`)
  if (fields.has('function_key_profile')) v.profileName(user.functionKeyProfile, `${f}.function_key_profile`)
  if (fields.has('home_device_id') && user.homeDeviceId !== '') v.id(user.homeDeviceId, `${f}.home_device_id`)
  if (fields.has('label')) v.shortText(user.label, `${f}.label`)
  if (fields.has('language')) v.language(user.language, `${f}.language`)
  if (fields.has('function_keys')) v.functionKeys(user.functionKeys, `${f}.function_keys`, KEY_TYPES)
  if (fields.has('call_classes')) v.callClasses(user.callClasses?.classes ?? [], `${f}.call_classes.classes`)
}

/** Validates the fields of `device` named in `fields`. */
export function validateDeviceFields(device: Device, fields: ReadonlySet<string>, f = 'device'): void {
  if (fields.has('site_id')) v.id(device.siteId, `${f}.site_id`)
  if (fields.has('extension') && device.extension !== '') v.extension(device.extension, `${f}.extension`)
  if (fields.has('label')) v.text(device.label, `${f}.label`)
  if (fields.has('model')) v.text(device.model, `${f}.model`)
  if (fields.has('floor')) v.locationPart(device.floor ?? '', `${f}.floor`)
  if (fields.has('room')) v.locationPart(device.room ?? '', `${f}.room`)
  if (fields.has('sip_password')) v.sipPassword(device.sipPassword ?? '', `${f}.sip_password`)
  if (fields.has('mac')) v.mac(device.mac ?? '', `${f}.mac`)
  if (fields.has('vendor') && ![PhoneVendor.PHONE_VENDOR_UNSPECIFIED, PhoneVendor.PHONE_VENDOR_YEALINK, PhoneVendor.PHONE_VENDOR_SNOM, PhoneVendor.PHONE_VENDOR_POLY].includes(device.vendor ?? PhoneVendor.PHONE_VENDOR_UNSPECIFIED)) {
    throw invalidArgument(`${f}.vendor`, 'must be UNSPECIFIED, YEALINK, SNOM or POLY')
  }
  if (fields.has('function_key_profile')) v.profileName(device.functionKeyProfile ?? '', `${f}.function_key_profile`)
  if (fields.has('call_classes')) v.callClasses(device.callClasses?.classes ?? [], `${f}.call_classes.classes`)
}

/**
 * The SIP password to set from a validated request, or undefined for none: on create and with an
 * empty update mask when one is given, else when the mask names `sip_password`.
 */
export function sipPasswordToSet(device: Device, fields: ReadonlySet<string> | undefined): string | undefined {
  if (fields === undefined) return device.sipPassword === '' ? undefined : device.sipPassword
  return fields.has('sip_password') ? (device.sipPassword ?? '') : undefined
}

/** HA1 = MD5(username:realm:password) as lowercase hex (RFC 2617 §3.2.2.2); the username is the device id. */
export function digestHa1(deviceId: string, realm: string, password: string): string {
  return createHash('md5').update(`${deviceId}:${realm}:${password}`, 'utf8').digest('hex')
}

/** Credentials for `password` at `site`, or an INVALID_ARGUMENT naming `device.sip_password`. */
function credentialsAt(deviceId: string, site: SiteRecord, password: string): SipCredentials | RegistryError {
  const realm = site.sipDomain ?? ''
  if (realm === '') {
    return invalidArgument('device.sip_password', `site "${site.id}" has no sip_domain (digest realm); set one before giving its devices SIP passwords`)
  }
  return { realm, ha1: digestHa1(deviceId, realm, password) }
}

/** Validates the fields of `site` named in `fields`. */
export function validateSiteFields(site: Site, fields: ReadonlySet<string>, f = 'site'): void {
  if (fields.has('name')) v.text(site.name, `${f}.name`)
  if (fields.has('timezone')) v.timezone(site.timezone, `${f}.timezone`)
  if (fields.has('emergency_numbers')) {
    if (site.emergencyNumbers.length > 16) throw invalidArgument(`${f}.emergency_numbers`, 'at most 16 numbers')
    site.emergencyNumbers.forEach((n, i) => {
      if (!/^[0-9]{2,15}$/.test(n)) throw invalidArgument(`${f}.emergency_numbers[${i}]`, 'must be 2 to 15 digits')
    })
  }
  if (fields.has('dispatchable_location')) v.text(site.dispatchableLocation, `${f}.dispatchable_location`)
  if (fields.has('sip_trunk_uri')) v.sipUri(site.sipTrunkUri, `${f}.sip_trunk_uri`)
  if (fields.has('sip_domain')) v.domain(site.sipDomain ?? '', `${f}.sip_domain`)
}

/** `to` with the `fields` of `from` (proto names) set. */
export function applyUser(to: UserRecord, from: User, fields: ReadonlySet<string>): UserRecord {
  const next = { ...to }
  if (fields.has('extension')) next.extension = from.extension
  if (fields.has('display_name')) next.displayName = from.displayName
  if (fields.has('did')) next.did = from.did
  if (fields.has('email')) next.email = from.email
  if (fields.has('mobile')) next.mobile = from.mobile
  if (fields.has('department')) next.department = from.department
  if (fields.has('home_site_id')) next.homeSiteId = from.homeSiteId
  if (fields.has('roaming_allowed')) next.roamingAllowed = from.roamingAllowed
  if (fields.has('max_seat_hours')) next.maxSeatHours = from.maxSeatHours
  if (fields.has('fallback')) next.fallback = from.fallback
  if (fields.has('given_name')) next.givenName = from.givenName
  if (fields.has('surname')) next.surname = from.surname
  if (fields.has('username')) next.username = from.username
  if (fields.has('function_key_profile')) next.functionKeyProfile = from.functionKeyProfile
  if (fields.has('disabled')) next.disabled = from.disabled
  if (fields.has('home_device_id')) next.homeDeviceId = from.homeDeviceId
  if (fields.has('ring_home_device')) next.ringHomeDevice = from.ringHomeDevice
  if (fields.has('label')) next.label = from.label
  if (fields.has('language')) next.language = from.language
  if (fields.has('function_keys')) next.functionKeys = from.functionKeys.map(functionKeyRecord)
  if (fields.has('call_classes')) {
    if (from.callClasses === undefined) delete next.callClasses
    else next.callClasses = [...from.callClasses.classes]
  }
  if (fields.has('show_caller_on_lamps')) {
    if (from.showCallerOnLamps === undefined) delete next.showCallerOnLamps
    else next.showCallerOnLamps = from.showCallerOnLamps
  }
  return next
}

function applyDevice(to: DeviceRecord, from: Device, fields: ReadonlySet<string>): DeviceRecord {
  const next = { ...to }
  if (fields.has('site_id')) next.siteId = from.siteId
  if (fields.has('extension')) next.extension = from.extension
  if (fields.has('label')) next.label = from.label
  if (fields.has('model')) next.model = from.model
  if (fields.has('flex_host')) next.flexHost = from.flexHost
  if (fields.has('floor')) next.floor = from.floor ?? ''
  if (fields.has('room')) next.room = from.room ?? ''
  if (fields.has('mac')) setOrDrop(next, 'mac', v.mac(from.mac ?? '', 'device.mac'))
  if (fields.has('vendor')) setOrDrop(next, 'vendor', vendorRecord(from.vendor ?? PhoneVendor.PHONE_VENDOR_UNSPECIFIED))
  if (fields.has('function_key_profile')) setOrDrop(next, 'functionKeyProfile', from.functionKeyProfile ?? '')
  if (fields.has('call_classes')) {
    if (from.callClasses === undefined) delete next.callClasses
    else next.callClasses = [...from.callClasses.classes]
  }
  return next
}

// Optional record fields are left out rather than stored empty, as records written before them.
function setOrDrop<K extends 'mac' | 'vendor' | 'functionKeyProfile'>(record: DeviceRecord, key: K, value: DeviceRecord[K] | ''): void {
  if (value === undefined || value === '') delete record[key]
  else record[key] = value
}

function applySite(to: SiteRecord, from: Site, fields: ReadonlySet<string>): SiteRecord {
  const next = { ...to }
  if (fields.has('name')) next.name = from.name
  if (fields.has('timezone')) next.timezone = from.timezone
  if (fields.has('emergency_numbers')) next.emergencyNumbers = [...from.emergencyNumbers]
  if (fields.has('dispatchable_location')) next.dispatchableLocation = from.dispatchableLocation
  if (fields.has('sip_trunk_uri')) next.sipTrunkUri = from.sipTrunkUri
  if (fields.has('sip_domain')) next.sipDomain = from.sipDomain ?? ''
  return next
}

/** A new user record from a validated request; the PIN arrives hashed. */
export function newUserRecord(id: string, user: User, pinHash: string): UserRecord {
  return applyUser(
    {
      id,
      extension: '',
      displayName: '',
      did: '',
      email: '',
      mobile: '',
      department: '',
      homeSiteId: '',
      roamingAllowed: false,
      maxSeatHours: 0,
      fallback: '',
      pinHash,
      givenName: '',
      surname: '',
      username: '',
      functionKeyProfile: '',
    },
    user,
    new Set(USER_WRITABLE),
  )
}

/**
 * A new user record of the directory sync: the entry's fields, no PIN (an administrator sets one),
 * and where it comes from, so that the sync knows it may change and remove it.
 */
export function newDirectoryUserRecord(id: string, user: User): UserRecord {
  return { ...applyUser(newUserRecord(id, user, ''), user, new Set(USER_DIRECTORY_FIELDS)), source: 'directory', directoryKey: user.directoryKey }
}

/** Whether the user record is the directory sync's to change: created by it from the entry with `directoryKey`. */
export function fromDirectoryEntry(record: UserRecord, directoryKey: string): boolean {
  return record.source === 'directory' && record.directoryKey === directoryKey
}

/** A new device record from a validated request. */
export function newDeviceRecord(id: string, device: Device): DeviceRecord {
  return applyDevice({ id, siteId: '', extension: '', label: '', model: '', flexHost: false }, device, new Set(DEVICE_WRITABLE))
}

/** A new site record from a validated request. */
export function newSiteRecord(id: string, site: Site): SiteRecord {
  return applySite({ id, name: '', timezone: '', emergencyNumbers: [], dispatchableLocation: '', sipTrunkUri: '', sipDomain: '' }, site, new Set(SITE_WRITABLE))
}

// ---- planners ----

async function extensionFree(read: TxnReader, keys: Keys, extension: string): Promise<boolean> {
  return (await read.get(keys.extension(extension))) === undefined
}

/**
 * INVALID_ARGUMENT naming `user.home_device_id` unless `deviceId` is empty or names a device (read,
 * so compared at commit: a device deleted meanwhile fails the write and the retry sees it gone).
 */
async function homeDeviceRefusal(read: TxnReader, keys: Keys, deviceId: string): Promise<RegistryError | undefined> {
  if (deviceId === '' || (await read.get(keys.device(deviceId)))) return undefined
  return invalidArgument('user.home_device_id', `no device "${deviceId}"`)
}

async function userLock(read: TxnReader, keys: Keys, userId: string, now: number): Promise<Date | undefined> {
  return shownLock((await read.json<LockoutRecord>(keys.lockout(userId)))?.value, now)
}

/** Plans CreateUser: the id and the extension must be free, the home site must exist. */
export async function planCreateUser(ctx: SeatContext, record: UserRecord, read: TxnReader): Promise<WritePlan<CreateUserResponse>> {
  const { keys } = ctx
  if (await read.get(keys.user(record.id))) return { ops: [], outcome: alreadyExists('user', record.id) }
  if (!(await read.get(keys.site(record.homeSiteId)))) return { ops: [], outcome: siteNotFound(record.homeSiteId) }
  if (!(await extensionFree(read, keys, record.extension))) return { ops: [], outcome: extensionTaken(record.extension) }
  const homeDevice = await homeDeviceRefusal(read, keys, record.homeDeviceId ?? '')
  if (homeDevice) return { ops: [], outcome: homeDevice }
  return {
    ops: [
      { type: 'put', key: keys.user(record.id), value: record },
      { type: 'put', key: keys.extension(record.extension), value: userOwner(record.id) },
    ],
    outcome: { user: toUser(record, '0') },
  }
}

/**
 * Plans UpdateUser (only `fields`); a seated worker's seat follows a new extension or name (a new
 * epoch at the same desk: every branch sees the new number at once). A user being disabled
 * (`disabled`, set by the directory sync only) loses the seat instead, for `releaseReason`.
 * `current` is the user record when the caller has read it already (through `read`).
 */
export async function planUpdateUser(
  ctx: SeatContext,
  patch: User,
  fields: ReadonlySet<string>,
  read: TxnReader,
  releaseReason: ReleaseReason = ReleaseReason.RELEASE_REASON_ADMIN,
  current?: { value: UserRecord; revision: string },
): Promise<WritePlan<UpdateUserResponse>> {
  const { keys } = ctx
  current ??= await read.json<UserRecord>(keys.user(patch.id))
  if (!current) return { ops: [], outcome: userNotFound(patch.id) }
  const next = applyUser(current.value, patch, fields)
  const ops: Op[] = []
  if (next.extension !== current.value.extension) {
    if (!(await extensionFree(read, keys, next.extension))) return { ops: [], outcome: extensionTaken(next.extension) }
    ops.push({ type: 'delete', key: keys.extension(current.value.extension) }, { type: 'put', key: keys.extension(next.extension), value: userOwner(next.id) })
  }
  if (next.homeSiteId !== current.value.homeSiteId && !(await read.get(keys.site(next.homeSiteId)))) {
    return { ops: [], outcome: siteNotFound(next.homeSiteId) }
  }
  if (fields.has('home_device_id') && (next.homeDeviceId ?? '') !== (current.value.homeDeviceId ?? '')) {
    const homeDevice = await homeDeviceRefusal(read, keys, next.homeDeviceId ?? '')
    if (homeDevice) return { ops: [], outcome: homeDevice }
  }
  ops.push({ type: 'put', key: keys.user(next.id), value: next })
  const seat = await read.json<SeatRecord>(keys.seat(next.id))
  if (seat && next.disabled === true) {
    // A disabled worker sits nowhere: the seat is released like a logout, and its branch told.
    ops.push(...(await releaseOps(read, keys, seat.value, seat.revision, releaseReason, ctx.now())))
  } else if (seat) {
    // A seated worker's number and name travel with the seat: rewrite it so every branch sees them.
    // A change of what the desk shows is stamped on it too: the desk's node tells the phone to
    // fetch its file again (check-sync).
    const renumbered = seat.value.extension !== next.extension || seat.value.displayName !== next.displayName
    const profileChanged = !sameDeskProfile(current.value, next)
    if (renumbered || profileChanged) {
      ops.push({
        type: 'put',
        key: keys.seat(next.id),
        value: { ...seat.value, extension: next.extension, displayName: next.displayName, ...(profileChanged ? { profileAt: new Date(ctx.now()).toISOString() } : {}) },
      })
    }
  }
  return { ops, outcome: { user: toUser(next, '0', await userLock(read, keys, next.id, ctx.now())) } }
}

/** Whether a seated desk's provisioning file would stay the same (the worker's own settings of it). */
function sameDeskProfile(a: UserRecord, b: UserRecord): boolean {
  return (a.label ?? '') === (b.label ?? '') && (a.language ?? '') === (b.language ?? '') && (a.functionKeyProfile ?? '') === (b.functionKeyProfile ?? '') && JSON.stringify(a.functionKeys ?? []) === JSON.stringify(b.functionKeys ?? [])
}

/**
 * Plans DeleteUser: frees the extension, clears the lockout, releases the seat (DELETED, or
 * `releaseReason`). `current` as in {@link planUpdateUser}.
 */
export async function planDeleteUser(
  ctx: SeatContext,
  userId: string,
  read: TxnReader,
  releaseReason: ReleaseReason = ReleaseReason.RELEASE_REASON_DELETED,
  current?: { value: UserRecord; revision: string },
): Promise<WritePlan<DeleteUserResponse>> {
  const { keys } = ctx
  current ??= await read.json<UserRecord>(keys.user(userId))
  if (!current) return { ops: [], outcome: userNotFound(userId) }
  // The worker's call list goes with them: a user created later under the same id starts empty.
  const ops: Op[] = [{ type: 'delete', key: keys.user(userId) }, { type: 'delete', key: keys.lockout(userId) }, { type: 'delete', key: keys.calls(userId), prefix: true }]
  const owner = await read.get(keys.extension(current.value.extension))
  if (owner?.value.toString('utf8') === userOwner(userId)) ops.push({ type: 'delete', key: keys.extension(current.value.extension) })
  const seat = await read.json<SeatRecord>(keys.seat(userId))
  if (seat) ops.push(...(await releaseOps(read, keys, seat.value, seat.revision, releaseReason, ctx.now())))
  return { ops, outcome: {} }
}

/**
 * Plans ChangePin: checks the lockout and the old PIN (a wrong one counts towards the lockout);
 * with `onlyUser`, the extension must be that user's.
 */
export async function planChangePin(ctx: SeatContext, extension: string, oldPin: string, newHash: string, read: TxnReader, onlyUser?: string): Promise<WritePlan<ChangePinResponse>> {
  const { keys } = ctx
  const user = await userByExtension(read, keys, extension)
  if (!user) return { ops: [], outcome: new RegistryError(ErrorCode.ERROR_CODE_UNKNOWN_EXTENSION, 'no user has this extension') }
  // A worker's portal session changes its own worker's PIN only (session-scope.ts).
  if (onlyUser !== undefined && user.value.id !== onlyUser) return { ops: [], outcome: new RegistryError(ErrorCode.ERROR_CODE_PERMISSION_DENIED, 'a worker\'s portal session changes that worker\'s PIN only') }
  const refused = signInRefusal(user.value)
  if (refused) return { ops: [], outcome: refused }
  const now = ctx.now()
  const lockout = await read.json<LockoutRecord>(keys.lockout(user.value.id))
  // ChangePin has no desk: its wrong old PINs count as the desk '' (lockout.ts), shared with the
  // portal's sign-in, whose lock is answered LOCKED_OUT there too (sessions.ts): one lock, one code.
  const locked = lockFor(lockout?.value, '', now)
  if (locked) return { ops: [], outcome: lockedOut(locked.until) }
  if (!(await verifyPin(oldPin, user.value.pinHash))) {
    const failure = recordFailure(lockout?.value, now, ctx.lockout, '')
    const until = failure.lockedUntil ?? failure.deskLockedUntil
    const outcome = until ? lockedOut(until) : wrongPin(failure.attemptsLeft)
    return {
      ops: [{ type: 'put', key: keys.lockout(user.value.id), value: failure.record }],
      outcome: withPinEvent(outcome, {
        kind: 'wrong-pin',
        userId: user.value.id,
        deviceId: '',
        siteId: '',
        attemptsLeft: failure.attemptsLeft,
        ...(failure.lockedUntil === undefined ? {} : { workerLockedUntil: failure.lockedUntil }),
        ...(failure.deskLockedUntil === undefined ? {} : { workerLockedAtDeskUntil: failure.deskLockedUntil }),
      }),
    }
  }
  const ops: Op[] = [{ type: 'put', key: keys.user(user.value.id), value: { ...user.value, pinHash: newHash } }]
  if (lockout) {
    const kept = recordSuccess(lockout.value, now, ctx.lockout, '')
    ops.push(kept === undefined ? { type: 'delete', key: keys.lockout(user.value.id) } : { type: 'put', key: keys.lockout(user.value.id), value: kept })
  }
  return { ops, outcome: {} }
}

/**
 * Plans ClearLockout: with `userId` alone, deletes the worker's lockout record (every lock and
 * count); with `userId` and `deviceId`, forgets the worker's lock and wrong PINs at that desk
 * (their lock everywhere and other desks' counts stand); with `deviceId` alone, deletes the
 * desk's throttle record (its pause for every worker). The worker or desk must exist.
 */
export async function planClearLockout(ctx: SeatContext, userId: string, deviceId: string, read: TxnReader): Promise<WritePlan<ClearLockoutResponse>> {
  const { keys } = ctx
  if (userId !== '' && !(await read.get(keys.user(userId)))) return { ops: [], outcome: userNotFound(userId) }
  if (deviceId !== '' && !(await read.get(keys.device(deviceId)))) return { ops: [], outcome: deviceNotFound(deviceId) }
  if (userId === '') return { ops: [{ type: 'delete', key: keys.deskThrottle(deviceId) }], outcome: {} }
  if (deviceId === '') return { ops: [{ type: 'delete', key: keys.lockout(userId) }], outcome: {} }
  const lockout = await read.json<LockoutRecord>(keys.lockout(userId))
  if (!lockout) return { ops: [], outcome: {} }
  const kept = clearDesk(lockout.value, ctx.now(), ctx.lockout, deviceId)
  return { ops: [kept === undefined ? { type: 'delete', key: keys.lockout(userId) } : { type: 'put', key: keys.lockout(userId), value: kept }], outcome: {} }
}

/** Plans ResetPin: sets the new PIN hash and clears the lockout. */
export async function planResetPin(ctx: SeatContext, userId: string, newHash: string, read: TxnReader): Promise<WritePlan<ResetPinResponse>> {
  const { keys } = ctx
  const user = await read.json<UserRecord>(keys.user(userId))
  if (!user) return { ops: [], outcome: userNotFound(userId) }
  return {
    ops: [
      { type: 'put', key: keys.user(userId), value: { ...user.value, pinHash: newHash } },
      { type: 'delete', key: keys.lockout(userId) },
    ],
    outcome: {},
  }
}

/**
 * Plans CreateDevice: the id and the extension (if any) must be free, the site must exist; a SIP
 * password is stored as HA1 for the site's sip_domain (read in the same transaction).
 */
export async function planCreateDevice(ctx: SeatContext, created: DeviceRecord, sipPassword: string | undefined, read: TxnReader): Promise<WritePlan<CreateDeviceResponse>> {
  const { keys } = ctx
  let record = created
  if (await read.get(keys.device(record.id))) return { ops: [], outcome: alreadyExists('device', record.id) }
  const site = await read.json<SiteRecord>(keys.site(record.siteId))
  if (!site) return { ops: [], outcome: siteNotFound(record.siteId) }
  if (sipPassword !== undefined) {
    const sip = credentialsAt(record.id, site.value, sipPassword)
    if (sip instanceof RegistryError) return { ops: [], outcome: sip }
    record = { ...record, sip }
  }
  const ops: Op[] = [{ type: 'put', key: keys.device(record.id), value: record }]
  if (record.extension !== '') {
    if (!(await extensionFree(read, keys, record.extension))) return { ops: [], outcome: extensionTaken(record.extension) }
    ops.push({ type: 'put', key: keys.extension(record.extension), value: deviceOwner(record.id) })
  }
  if (record.mac !== undefined) {
    if (await read.get(keys.mac(record.mac))) return { ops: [], outcome: macTaken(record.mac) }
    ops.push({ type: 'put', key: keys.mac(record.mac), value: record.id })
  }
  return { ops, outcome: { device: toDevice(record, '0') } }
}

/**
 * Plans UpdateDevice (only `fields`); a phone moved to another site takes its seat along (pending
 * on the site it leaves, if that branch's node holds a confirmation lease). A new
 * SIP password is stored as HA1 for the (new) site's sip_domain; a move to another site without
 * one clears the credentials, because the realm they were computed for no longer applies.
 */
export async function planUpdateDevice(ctx: SeatContext, patch: Device, fields: ReadonlySet<string>, sipPassword: string | undefined, read: TxnReader): Promise<WritePlan<UpdateDeviceResponse>> {
  const { keys } = ctx
  const current = await read.json<DeviceRecord>(keys.device(patch.id))
  if (!current) return { ops: [], outcome: deviceNotFound(patch.id) }
  const next = applyDevice(current.value, patch, fields)
  if (sipPassword !== undefined) {
    const site = await read.json<SiteRecord>(keys.site(next.siteId))
    if (!site) return { ops: [], outcome: siteNotFound(next.siteId) }
    const sip = credentialsAt(next.id, site.value, sipPassword)
    if (sip instanceof RegistryError) return { ops: [], outcome: sip }
    next.sip = sip
  } else if (next.siteId !== current.value.siteId) {
    delete next.sip
  }
  const ops: Op[] = []
  if (next.extension !== current.value.extension) {
    if (next.extension !== '' && !(await extensionFree(read, keys, next.extension))) return { ops: [], outcome: extensionTaken(next.extension) }
    if (current.value.extension !== '') ops.push({ type: 'delete', key: keys.extension(current.value.extension) })
    if (next.extension !== '') ops.push({ type: 'put', key: keys.extension(next.extension), value: deviceOwner(next.id) })
  }
  // `macs/<mac>` names the device that has it: one device per MAC, moved in the same write.
  if (next.mac !== current.value.mac) {
    if (next.mac !== undefined && (await read.get(keys.mac(next.mac)))) return { ops: [], outcome: macTaken(next.mac) }
    if (current.value.mac !== undefined) ops.push({ type: 'delete', key: keys.mac(current.value.mac) })
    if (next.mac !== undefined) ops.push({ type: 'put', key: keys.mac(next.mac), value: next.id })
  }
  if (next.siteId !== current.value.siteId) {
    if (!(await read.get(keys.site(next.siteId)))) return { ops: [], outcome: siteNotFound(next.siteId) }
    // Its registration was at the branch it leaves: the phone registers anew at its new site.
    ops.push({ type: 'delete', key: keys.binding(current.value.siteId, next.id) })
    // The seat records where the worker sits: a phone moved to another site takes its seat along.
    const host = await read.get(keys.host(next.id))
    const userId = host?.value.toString('utf8')
    const seat = userId === undefined ? undefined : await read.json<SeatRecord>(keys.seat(userId))
    if (seat && seat.value.deviceId === next.id) {
      // The branch the phone leaves may act on the seat until it has applied the move, as when the
      // worker moves (invariant 4): the seat waits for it at the new site.
      const pending = await pendingOfNewSeat(read, keys, seat.value.userId, seat, undefined, next.siteId, true, ctx.now(), ops)
      const { pending: _before, ...record } = seat.value
      const moved: SeatRecord = { ...record, siteId: next.siteId, ...(pending.length > 0 ? { pending } : {}) }
      ops.push({ type: 'put', key: keys.seat(seat.value.userId), value: moved })
    }
  }
  ops.push({ type: 'put', key: keys.device(next.id), value: next })
  return { ops, outcome: { device: toDevice(next, '0') } }
}

/** Plans DeleteDevice: frees the extension, releases the seat it hosts (DELETED), drops its phone binding. */
export async function planDeleteDevice(ctx: SeatContext, deviceId: string, read: TxnReader): Promise<WritePlan<DeleteDeviceResponse>> {
  const { keys } = ctx
  const current = await read.json<DeviceRecord>(keys.device(deviceId))
  if (!current) return { ops: [], outcome: deviceNotFound(deviceId) }
  const ops: Op[] = [
    { type: 'delete', key: keys.device(deviceId) },
    { type: 'delete', key: keys.binding(current.value.siteId, deviceId) },
    // A new device of the same id starts without the old one's wrong PINs.
    { type: 'delete', key: keys.deskThrottle(deviceId) },
  ]
  if (current.value.mac !== undefined) ops.push({ type: 'delete', key: keys.mac(current.value.mac) })
  if (current.value.extension !== '') {
    const owner = await read.get(keys.extension(current.value.extension))
    if (owner?.value.toString('utf8') === deviceOwner(deviceId)) ops.push({ type: 'delete', key: keys.extension(current.value.extension) })
  }
  const host = await read.get(keys.host(deviceId))
  const userId = host?.value.toString('utf8')
  const seat = userId === undefined ? undefined : await read.json<SeatRecord>(keys.seat(userId))
  if (seat && seat.value.deviceId === deviceId) {
    ops.push(...(await releaseOps(read, keys, seat.value, seat.revision, ReleaseReason.RELEASE_REASON_DELETED, ctx.now())))
  } else if (host) {
    ops.push({ type: 'delete', key: keys.host(deviceId) })
  }
  return { ops, outcome: {} }
}

/** Plans CreateSite: the id must be free. */
export async function planCreateSite(ctx: SeatContext, record: SiteRecord, read: TxnReader): Promise<WritePlan<CreateSiteResponse>> {
  if (await read.get(ctx.keys.site(record.id))) return { ops: [], outcome: alreadyExists('site', record.id) }
  return { ops: [{ type: 'put', key: ctx.keys.site(record.id), value: record }], outcome: { site: toSite(record, '0') } }
}

/** Plans UpdateSite (only `fields`). */
export async function planUpdateSite(ctx: SeatContext, patch: Site, fields: ReadonlySet<string>, read: TxnReader): Promise<WritePlan<UpdateSiteResponse>> {
  const current = await read.json<SiteRecord>(ctx.keys.site(patch.id))
  if (!current) return { ops: [], outcome: siteNotFound(patch.id) }
  const next = applySite(current.value, patch, fields)
  return { ops: [{ type: 'put', key: ctx.keys.site(next.id), value: next }], outcome: { site: toSite(next, '0') } }
}

/** Plans DeleteSite: refused with SITE_IN_USE while any device is at the site or any user has it as home site. */
export async function planDeleteSite(ctx: SeatContext, siteId: string, read: TxnReader): Promise<WritePlan<DeleteSiteResponse>> {
  const { keys } = ctx
  if (!(await read.get(keys.site(siteId)))) return { ops: [], outcome: siteNotFound(siteId) }
  // The scan guards the whole devices/ range: a device created concurrently fails the write.
  const devices = await read.scan(keys.devices)
  const inUse = devices.filter((kv) => parseJson<DeviceRecord>(kv).siteId === siteId).length
  if (inUse > 0) return { ops: [], outcome: new RegistryError(ErrorCode.ERROR_CODE_SITE_IN_USE, `site "${siteId}" still has ${inUse} device(s)`) }
  // Users' home site must exist too (CreateUser/UpdateUser check it); the scan guards users/ alike.
  const users = await read.scan(keys.users)
  const homed = users.filter((kv) => parseJson<UserRecord>(kv).homeSiteId === siteId).length
  if (homed > 0) return { ops: [], outcome: new RegistryError(ErrorCode.ERROR_CODE_SITE_IN_USE, `site "${siteId}" is the home site of ${homed} user(s)`) }
  return { ops: [{ type: 'delete', key: keys.site(siteId) }], outcome: {} }
}
