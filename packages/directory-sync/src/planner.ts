import { DirectoryChange, DirectoryChangeKind, type DirectoryConflict, User, UserSource } from '@flexseat/proto'
import type { DirectoryEntry } from './attribute-map'
import { type AttributeMap, type Templates, templateFor } from './config'

/** What a plan is made from. */
export interface PlanInput {
  /** A full sync also removes the users whose entry is gone; an incremental one never does. */
  mode: 'full' | 'incremental'
  /** The entries read (every entry of the search, or those changed since the last sync). */
  entries: readonly DirectoryEntry[]
  /** The registry's users. Only those the directory created are compared; the others are left alone. */
  users: readonly User[]
  templates: Templates
  /** A full sync that would remove more users than this removes none; 0: no limit. */
  maxDeletions: number
  /** For messages that name an attribute ("no ipPhone"). */
  attributes: AttributeMap
}

/** What a sync would do. */
export interface SyncPlan {
  /**
   * The changes, in the order to apply them: removals, disablements, updates (a worker whose
   * extension another worker takes is renumbered first), creations.
   */
  changes: DirectoryChange[]
  /** Entries skipped, and why. */
  conflicts: DirectoryConflict[]
  /** Entries whose user already matches. */
  unchanged: number
  /** Disabled entries with no user: nothing to create. */
  ignored: number
}

/**
 * The pure planner: from the directory's entries and the registry's users, the changes that make
 * the users the directory created match it, each with its reasons, and the entries it must skip.
 *
 * - An entry is matched to a user by its key attribute (User.directory_key), never by its DN or
 *   name, so renames and moves update the user. A new entry becomes a user whose id is its
 *   username in lower case; a disabled new entry becomes nothing.
 * - Skipped (a conflict, nothing of the entry applied; the rest goes on): no key, no username, no
 *   extension (ipPhone) on an enabled entry, a key or an extension that another enabled entry of
 *   the same read has too (every one of them is skipped: there is no telling which is right), two
 *   new entries mapping to one user id, a department without a template and no default template.
 * - A full sync removes the users whose entry is gone, unless there are more than `maxDeletions`
 *   of them (a wrong search base looks exactly like everybody leaving): then it removes none and
 *   reports each.
 *
 * What the registry alone can tell (an extension held by a device or a user created by hand, an
 * invalid field, a home site that does not exist) it reports per change when it applies the plan.
 */
export function planSync(input: PlanInput): SyncPlan {
  const { attributes: attr } = input
  const conflicts: DirectoryConflict[] = []
  const ours = new Map<string, User>()
  for (const user of input.users) {
    if (user.source === UserSource.USER_SOURCE_DIRECTORY && user.directoryKey !== '' && !ours.has(user.directoryKey)) ours.set(user.directoryKey, user)
  }
  const conflict = (entry: DirectoryEntry, reason: string, userId = ''): void => {
    conflicts.push({ directoryKey: entry.key, dn: entry.dn, username: entry.username, extension: entry.extension, userId, reason })
  }
  const idOf = (entry: DirectoryEntry): string => ours.get(entry.key)?.id ?? entry.username.toLowerCase()

  // Keys seen protect their users from removal, even when the entry itself is skipped.
  const seen = new Set(input.entries.map((entry) => entry.key).filter((key) => key !== ''))
  const byKey = groupBy(input.entries.filter((e) => e.key !== ''), (e) => e.key)
  const byExtension = groupBy(input.entries.filter((e) => !e.disabled && e.extension !== ''), (e) => e.extension)
  const byNewId = groupBy(input.entries.filter((e) => e.key !== '' && !ours.has(e.key) && !e.disabled && e.username !== ''), (e) => e.username.toLowerCase())

  const changes: DirectoryChange[] = []
  let unchanged = 0
  let ignored = 0
  for (const entry of input.entries) {
    const current = ours.get(entry.key)
    if (entry.key === '') {
      conflict(entry, `no ${attr.key}: the entry cannot be told apart from others`)
      continue
    }
    if (byKey.get(entry.key)!.length > 1) {
      conflict(entry, `${attr.key} ${entry.key} is also that of ${others(byKey.get(entry.key)!, entry)}`, current?.id)
      continue
    }
    if (entry.username === '') {
      conflict(entry, `no ${attr.username}`, current?.id)
      continue
    }
    if (current === undefined && entry.disabled) {
      ignored += 1
      continue
    }
    const extension = entry.extension !== '' ? entry.extension : entry.disabled && current !== undefined ? current.extension : ''
    if (extension === '') {
      conflict(entry, `no ${attr.extension} (the extension must exist and be unique)`, idOf(entry))
      continue
    }
    const sharing = entry.disabled ? undefined : byExtension.get(entry.extension)
    if (sharing !== undefined && sharing.length > 1) {
      conflict(entry, `${attr.extension} ${entry.extension} is also that of ${others(sharing, entry)}`, idOf(entry))
      continue
    }
    if (current === undefined && byNewId.get(entry.username.toLowerCase())!.length > 1) {
      conflict(entry, `user id ${entry.username.toLowerCase()} would also be that of ${others(byNewId.get(entry.username.toLowerCase())!, entry)}`, idOf(entry))
      continue
    }
    const template = templateFor(input.templates, entry.department)
    if (template === undefined) {
      conflict(entry, `no template for department "${entry.department}" and no templates.default`, idOf(entry))
      continue
    }
    const wanted = User.fromPartial({
      id: idOf(entry),
      extension,
      displayName: entry.displayName,
      givenName: entry.givenName,
      surname: entry.surname,
      username: entry.username,
      did: entry.did,
      mobile: entry.mobile,
      email: entry.email,
      department: entry.department,
      homeSiteId: template.homeSiteId,
      roamingAllowed: template.roamingAllowed,
      maxSeatHours: template.maxSeatHours,
      functionKeyProfile: template.functionKeyProfile,
      source: UserSource.USER_SOURCE_DIRECTORY,
      directoryKey: entry.key,
      disabled: entry.disabled,
    })
    if (current === undefined) {
      changes.push(DirectoryChange.fromPartial({ kind: DirectoryChangeKind.DIRECTORY_CHANGE_KIND_CREATE, userId: wanted.id, directoryKey: entry.key, user: wanted, reasons: ['new in the directory'] }))
      continue
    }
    const reasons = differences(current, wanted)
    if (reasons.length === 0) {
      unchanged += 1
      continue
    }
    const kind = wanted.disabled && !current.disabled ? DirectoryChangeKind.DIRECTORY_CHANGE_KIND_DISABLE : DirectoryChangeKind.DIRECTORY_CHANGE_KIND_UPDATE
    changes.push(DirectoryChange.fromPartial({ kind, userId: current.id, directoryKey: entry.key, user: wanted, reasons, previousExtension: current.extension }))
  }

  const gone = input.mode === 'full' ? [...ours.values()].filter((user) => !seen.has(user.directoryKey)) : []
  const deletions: DirectoryChange[] = []
  if (input.maxDeletions > 0 && gone.length > input.maxDeletions) {
    for (const user of gone) {
      conflicts.push({
        directoryKey: user.directoryKey,
        dn: '',
        username: user.username,
        extension: user.extension,
        userId: user.id,
        reason: `gone from the directory, but ${gone.length} users would be removed, more than schedule.max_deletions (${input.maxDeletions}): none removed (check ldap.base_dn and ldap.filter)`,
      })
    }
  } else {
    for (const user of gone) {
      deletions.push(
        DirectoryChange.fromPartial({
          kind: DirectoryChangeKind.DIRECTORY_CHANGE_KIND_DELETE,
          userId: user.id,
          directoryKey: user.directoryKey,
          reasons: ['gone from the directory'],
          previousExtension: user.extension,
        }),
      )
    }
  }
  const of = (kind: DirectoryChangeKind): DirectoryChange[] => changes.filter((c) => c.kind === kind)
  return {
    changes: [...deletions, ...of(DirectoryChangeKind.DIRECTORY_CHANGE_KIND_DISABLE), ...renumberingOrder(of(DirectoryChangeKind.DIRECTORY_CHANGE_KIND_UPDATE)), ...of(DirectoryChangeKind.DIRECTORY_CHANGE_KIND_CREATE)],
    conflicts,
    unchanged,
    ignored,
  }
}

/** The facts in which `wanted` differs from `current`, one line each, in a fixed order. */
export function differences(current: User, wanted: User): string[] {
  const reasons: string[] = []
  const text = (label: string, from: string, to: string): void => {
    if (from !== to) reasons.push(`${label} ${quote(from)} -> ${quote(to)}`)
  }
  if (current.extension !== wanted.extension) reasons.push(`extension ${current.extension} -> ${wanted.extension}`)
  text('display name', current.displayName, wanted.displayName)
  text('given name', current.givenName, wanted.givenName)
  text('surname', current.surname, wanted.surname)
  text('username', current.username, wanted.username)
  text('e-mail', current.email, wanted.email)
  text('DID', current.did, wanted.did)
  text('mobile', current.mobile, wanted.mobile)
  text('department', current.department, wanted.department)
  text('home site', current.homeSiteId, wanted.homeSiteId)
  if (current.roamingAllowed !== wanted.roamingAllowed) reasons.push(wanted.roamingAllowed ? 'roaming allowed' : 'roaming withdrawn')
  if (current.maxSeatHours !== wanted.maxSeatHours) reasons.push(`max seat hours ${current.maxSeatHours} -> ${wanted.maxSeatHours}`)
  text('function-key profile', current.functionKeyProfile, wanted.functionKeyProfile)
  if (current.disabled !== wanted.disabled) reasons.push(wanted.disabled ? 'disabled in the directory' : 'enabled again in the directory')
  return reasons
}

/**
 * Updates ordered so that a worker whose extension another worker takes is renumbered first (a
 * chain 1001 -> 1002 -> 1003 applies in one run). A cycle (two workers swapping extensions)
 * cannot be ordered: the registry reports each extension taken, and nothing of it is applied.
 */
export function renumberingOrder(updates: readonly DirectoryChange[]): DirectoryChange[] {
  const byPrevious = new Map<string, DirectoryChange>()
  for (const change of updates) {
    if (change.previousExtension !== '' && change.user !== undefined && change.user.extension !== change.previousExtension) byPrevious.set(change.previousExtension, change)
  }
  // first[c]: the change that must come before c (it frees c's new extension).
  const before = new Map<DirectoryChange, DirectoryChange>()
  for (const change of updates) {
    const to = change.user?.extension
    const freeing = to === undefined ? undefined : byPrevious.get(to)
    if (freeing !== undefined && freeing !== change) before.set(change, freeing)
  }
  const out: DirectoryChange[] = []
  const placed = new Set<DirectoryChange>()
  const place = (change: DirectoryChange, path: Set<DirectoryChange>): void => {
    if (placed.has(change) || path.has(change)) return
    path.add(change)
    const first = before.get(change)
    if (first !== undefined) place(first, path)
    placed.add(change)
    out.push(change)
  }
  for (const change of updates) place(change, new Set())
  return out
}

function quote(value: string): string {
  return value === '' ? '(none)' : `"${value}"`
}

function others(group: readonly DirectoryEntry[], entry: DirectoryEntry): string {
  const names = group.filter((other) => other !== entry).map((other) => other.username || other.dn)
  return names.length > 3 ? `${names.slice(0, 3).join(', ')} and ${names.length - 3} more` : names.join(', ')
}

function groupBy<T>(items: readonly T[], key: (item: T) => string): Map<string, T[]> {
  const groups = new Map<string, T[]>()
  for (const item of items) {
    const k = key(item)
    const group = groups.get(k)
    if (group) group.push(item)
    else groups.set(k, [item])
  }
  return groups
}
