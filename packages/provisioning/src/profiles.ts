/**
 * Which function keys a desk shows (packages/provisioning/README.md, "Which keys a desk shows"):
 *
 * - a worker seated at a flex desk: the worker's own keys (User.function_keys) when they have
 *   any; else the profile their `function_key_profile` names; else the site's default profile
 *   (`provisioning.default_profile` of the desk's site); else none;
 * - a desk nobody sits at (and a lobby phone): the profile the device's `function_key_profile`
 *   names; else the site's default; else none.
 *
 * A name that names no profile counts as empty (the next rule applies): profiles may be set before
 * or after the users and devices that name them. The sign-in key comes on top (desk.ts).
 */
import { type FunctionKey, FunctionKeyType } from '@flexseat/proto'
import type { DeskKey, KeyProfile } from './desk'

/** What the rules read, already fetched (undefined: not set, or no such profile). */
export interface ProfileSources {
  /** The seated worker's own keys (seated desks only). */
  readonly own?: readonly FunctionKey[] | undefined
  /** The profile the worker (seated) or the device (otherwise) names: its name and keys. */
  readonly named?: { readonly name: string; readonly keys: readonly FunctionKey[] } | undefined
  /** The site's default profile. */
  readonly siteDefault?: { readonly name: string; readonly keys: readonly FunctionKey[] } | undefined
}

/** The keys that apply, by the rules above. */
export function pickProfile(sources: ProfileSources): KeyProfile {
  if (sources.own !== undefined && sources.own.length > 0) return { source: 'user', keys: deskKeys(sources.own) }
  if (sources.named !== undefined) return { source: `profile:${sources.named.name}`, keys: deskKeys(sources.named.keys) }
  if (sources.siteDefault !== undefined) return { source: `site-default:${sources.siteDefault.name}`, keys: deskKeys(sources.siteDefault.keys) }
  return { source: 'none', keys: [] }
}

/** Registry keys as desk keys; a key without a label shows its value ("Line" for a line key). */
export function deskKeys(keys: readonly FunctionKey[]): DeskKey[] {
  return keys.flatMap((key): DeskKey[] => {
    switch (key.type) {
      case FunctionKeyType.FUNCTION_KEY_TYPE_LINE:
        return [{ kind: 'line', value: '', label: key.label || 'Line' }]
      case FunctionKeyType.FUNCTION_KEY_TYPE_BLF:
        return [{ kind: 'blf', value: key.value, label: key.label || key.value }]
      case FunctionKeyType.FUNCTION_KEY_TYPE_SPEED_DIAL:
        return [{ kind: 'speed-dial', value: key.value, label: key.label || key.value }]
      default:
        return []
    }
  })
}
