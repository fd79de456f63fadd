import { createHash } from 'node:crypto'
import type { Etcd3 } from 'etcd3'
import {
  ChangePinResponse,
  CreateDeviceResponse,
  CreateSessionResponse,
  CreateSiteResponse,
  CreateUserResponse,
  DeleteDeviceResponse,
  DeleteFunctionKeyProfileResponse,
  DeleteSiteResponse,
  DeleteUserResponse,
  type ErrorCode,
  LoginResponse,
  LogoutResponse,
  type MessageFns,
  RenewSeatResponse,
  ResetPinResponse,
  ClearLockoutResponse,
  SetFunctionKeyProfileResponse,
  SetSeatPolicyResponse,
  DeleteSeatPolicyResponse,
  UnlockUserResponse,
  UpdateDeviceResponse,
  UpdateSiteResponse,
  UpdateUserResponse,
} from '@flexseat/proto'
import type { Caller } from './caller'
import { type ErrorFacts, RegistryError } from './errors'
import { RetentionLease } from './retention-lease'

/** The response type of every mutating method, by method name. */
export interface WriteResponses {
  login: LoginResponse
  logout: LogoutResponse
  renewSeat: RenewSeatResponse
  createUser: CreateUserResponse
  updateUser: UpdateUserResponse
  deleteUser: DeleteUserResponse
  changePin: ChangePinResponse
  resetPin: ResetPinResponse
  clearLockout: ClearLockoutResponse
  createDevice: CreateDeviceResponse
  updateDevice: UpdateDeviceResponse
  deleteDevice: DeleteDeviceResponse
  createSite: CreateSiteResponse
  updateSite: UpdateSiteResponse
  deleteSite: DeleteSiteResponse
  setFunctionKeyProfile: SetFunctionKeyProfileResponse
  deleteFunctionKeyProfile: DeleteFunctionKeyProfileResponse
  unlockUser: UnlockUserResponse
  createSession: CreateSessionResponse
  setSeatPolicy: SetSeatPolicyResponse
  deleteSeatPolicy: DeleteSeatPolicyResponse
}
export type WriteMethod = keyof WriteResponses

const CODECS: { [M in WriteMethod]: MessageFns<WriteResponses[M]> } = {
  login: LoginResponse,
  logout: LogoutResponse,
  renewSeat: RenewSeatResponse,
  createUser: CreateUserResponse,
  updateUser: UpdateUserResponse,
  deleteUser: DeleteUserResponse,
  changePin: ChangePinResponse,
  resetPin: ResetPinResponse,
  clearLockout: ClearLockoutResponse,
  createDevice: CreateDeviceResponse,
  updateDevice: UpdateDeviceResponse,
  deleteDevice: DeleteDeviceResponse,
  createSite: CreateSiteResponse,
  updateSite: UpdateSiteResponse,
  deleteSite: DeleteSiteResponse,
  setFunctionKeyProfile: SetFunctionKeyProfileResponse,
  deleteFunctionKeyProfile: DeleteFunctionKeyProfileResponse,
  unlockUser: UnlockUserResponse,
  createSession: CreateSessionResponse,
  setSeatPolicy: SetSeatPolicyResponse,
  deleteSeatPolicy: DeleteSeatPolicyResponse,
}

/**
 * Fills in what only the committed transaction knows: its revision, which is the epoch of a new
 * seat and the revision of a written record. The stored outcome holds "0" there; the request
 * record is written in the same transaction, so its mod revision restores the value on a replay.
 */
export function stampRevision<M extends WriteMethod>(method: M, response: WriteResponses[M], revision: string): WriteResponses[M] {
  const r = response as Partial<LoginResponse & CreateUserResponse & CreateDeviceResponse & CreateSiteResponse & SetFunctionKeyProfileResponse>
  if ((method === 'login' || method === 'renewSeat') && r.seat) r.seat.epoch = revision
  if (r.user) r.user.revision = revision
  if (r.device) r.device.revision = revision
  if (r.site) r.site.revision = revision
  if (r.profile) r.profile.revision = revision
  return response
}

const SECRET_FIELDS = new Set(['pin', 'oldPin', 'newPin', 'old_pin', 'new_pin', 'sipPassword', 'sip_password', 'password', 'adminToken', 'admin_token'])

/**
 * The fingerprint of a request: SHA-256 over the method and the request with every secret
 * (PIN, SIP password) blanked, so the record can tell "same request again" from "id reused" without ever
 * hashing a PIN (a 4-digit PIN would fall to a dictionary of 10^4 hashes).
 */
export function fingerprint(method: WriteMethod, request: object): string {
  const blanked = JSON.stringify(request, (key, value: unknown) =>
    SECRET_FIELDS.has(key) ? (value === '' || value === undefined ? value : '<secret>') : key === 'requestId' ? undefined : value,
  )
  return createHash('sha256').update(method).update('\0').update(blanked).digest('hex')
}

/**
 * The fingerprint of a mutating call made by `caller`: the caller's name and role are part of
 * the request, so another caller reusing a request id gets REQUEST_ID_REUSED instead of the
 * first caller's stored outcome (which could carry another user's seat or facts).
 */
export function callFingerprint(method: WriteMethod, caller: Caller, request: object): string {
  return fingerprint(method, { caller: { name: caller.name, role: caller.role }, request })
}

/** Stored at `requests/<id>`: the first outcome of a mutating call. */
export interface RequestRecord {
  method: WriteMethod
  fingerprint: string
  /** base64 of the encoded response, with "0" where the revision goes. */
  response?: string
  error?: { code: ErrorCode; message: string; facts: Omit<ErrorFacts, 'lockedUntil'> & { lockedUntil?: string } }
}

export function encodeOutcome<M extends WriteMethod>(method: M, fp: string, outcome: WriteResponses[M] | RegistryError): RequestRecord {
  if (outcome instanceof RegistryError) {
    const { lockedUntil, ...facts } = outcome.facts
    return {
      method,
      fingerprint: fp,
      error: { code: outcome.code, message: outcome.message, facts: { ...facts, ...(lockedUntil ? { lockedUntil: lockedUntil.toISOString() } : {}) } },
    }
  }
  return { method, fingerprint: fp, response: Buffer.from(CODECS[method].encode(outcome).finish()).toString('base64') }
}

/** The outcome a record holds: the response (stamped with `revision`), or the error to throw. */
export function decodeOutcome<M extends WriteMethod>(method: M, record: RequestRecord, revision: string): WriteResponses[M] | RegistryError {
  if (record.error) {
    const { lockedUntil, ...facts } = record.error.facts
    return new RegistryError(record.error.code, record.error.message, { ...facts, ...(lockedUntil ? { lockedUntil: new Date(lockedUntil) } : {}) })
  }
  const response = CODECS[method].decode(Buffer.from(record.response ?? '', 'base64'))
  return stampRevision(method, response, revision)
}

/**
 * Request records are kept a day: long enough for any client retry, short enough not to pile up.
 * Under {@link RetentionLease}'s rule each record expires 24 to 25 hours after it was written, at
 * the cost of one lease grant an hour.
 */
export const REQUEST_RECORD_RETENTION_SECONDS = 24 * 3600

/** The lease request records are written under (a {@link RetentionLease} of a day). */
export class RequestLease extends RetentionLease {
  constructor(etcd: Etcd3) {
    super(etcd, REQUEST_RECORD_RETENTION_SECONDS)
  }
}
