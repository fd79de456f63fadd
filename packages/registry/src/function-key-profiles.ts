import { type DeleteFunctionKeyProfileResponse, type FunctionKeyProfile, type SetFunctionKeyProfileResponse } from '@flexseat/proto'
import { KEY_TYPES } from './directory'
import type { TxnReader, WritePlan } from './fenced-writer'
import type { Keys } from './keys'
import { functionKeyRecord, type ProfileRecord, toProfile } from './records'
import { invalidArgument } from './errors'
import * as v from './validate'

/**
 * Named function-key profiles (`profiles/<name>`): what a department's workers, a desk while idle
 * or a whole site get on their keys. Users and devices name a profile by `function_key_profile`;
 * nothing refers to a profile by key, so a profile may be set before or after the users naming it
 * and deleting one leaves them to the site's default (packages/provisioning/README.md,
 * "Which keys a desk shows").
 */

/** Validates a profile of SetFunctionKeyProfile (INVALID_ARGUMENT naming the field). */
export function validateProfile(profile: FunctionKeyProfile | undefined, f = 'profile'): FunctionKeyProfile {
  if (profile === undefined) throw invalidArgument(f, 'is required')
  v.id(profile.name, `${f}.name`)
  v.text(profile.description, `${f}.description`)
  v.functionKeys(profile.keys, `${f}.keys`, KEY_TYPES)
  return profile
}

/** The stored form of a validated profile. */
export function profileRecord(profile: FunctionKeyProfile): ProfileRecord {
  return { name: profile.name, description: profile.description, keys: profile.keys.map(functionKeyRecord) }
}

/** Plans SetFunctionKeyProfile: the profile is written whole (created or replaced). */
export async function planSetProfile(keys: Keys, record: ProfileRecord, _read: TxnReader): Promise<WritePlan<SetFunctionKeyProfileResponse>> {
  return { ops: [{ type: 'put', key: keys.profile(record.name), value: record }], outcome: { profile: toProfile(record, '0') } }
}

/** Plans DeleteFunctionKeyProfile: idempotent, deleting no profile changes nothing. */
export async function planDeleteProfile(keys: Keys, name: string, read: TxnReader): Promise<WritePlan<DeleteFunctionKeyProfileResponse>> {
  if (!(await read.get(keys.profile(name)))) return { ops: [], outcome: {} }
  return { ops: [{ type: 'delete', key: keys.profile(name) }], outcome: {} }
}
