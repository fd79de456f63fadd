import type { AttributeMap } from './config'

/** One entry of the directory as the sync sees it: the mapped attributes, trimmed and normalised. */
export interface DirectoryEntry {
  /** The entry's DN, as the server sent it (for messages only: entries are keyed on `key`). */
  readonly dn: string
  /** The key attribute's value ('' when the entry has none). */
  readonly key: string
  readonly username: string
  /** displayName, else "given name surname", else the username. */
  readonly displayName: string
  readonly givenName: string
  readonly surname: string
  /** ipPhone without spaces and dashes ('' when absent). */
  readonly extension: string
  /** telephoneNumber without spaces and punctuation. */
  readonly did: string
  readonly mobile: string
  readonly email: string
  readonly department: string
  /** userAccountControl has ACCOUNTDISABLE (bit 2, value 2). */
  readonly disabled: boolean
}

/** The entry as ldapts returns it: `dn` plus attribute values (strings, or Buffers when asked for). */
export type LdapEntry = { dn: string; [attribute: string]: Buffer | Buffer[] | string[] | string }

/** Active Directory's ACCOUNTDISABLE flag of userAccountControl. */
export const ACCOUNT_DISABLED = 0x2

/** The attributes a search must ask for to fill {@link DirectoryEntry} (the map's non-empty names). */
export function requestedAttributes(map: AttributeMap): string[] {
  return [...new Set(Object.values(map).filter((name): name is string => name !== ''))]
}

/**
 * Maps an LDAP entry to a {@link DirectoryEntry}. Attribute names match case-insensitively (LDAP
 * names do; servers answer in their own spelling). Multi-valued attributes give their first
 * value. The key, asked for as bytes, becomes the GUID's text form for objectGUID (as AD tools
 * show it), its text when it is printable UTF-8 (entryUUID), else hex.
 */
export function toDirectoryEntry(entry: LdapEntry, map: AttributeMap): DirectoryEntry {
  const lower = new Map<string, LdapEntry[string]>()
  for (const [name, value] of Object.entries(entry)) if (name !== 'dn') lower.set(name.toLowerCase(), value)
  const raw = (name: string): Buffer | string | undefined => {
    if (name === '') return undefined
    const value = lower.get(name.toLowerCase())
    return Array.isArray(value) ? value[0] : value
  }
  const text = (name: string): string => {
    const value = raw(name)
    return (Buffer.isBuffer(value) ? value.toString('utf8') : (value ?? '')).trim()
  }
  const givenName = text(map.givenName)
  const surname = text(map.surname)
  const username = text(map.username)
  const display = text(map.displayName) || `${givenName} ${surname}`.trim() || username
  const control = Number.parseInt(text(map.accountControl), 10)
  return {
    dn: entry.dn,
    key: keyText(map.key, raw(map.key)),
    username,
    displayName: display,
    givenName,
    surname,
    extension: text(map.extension).replace(/[\s-]/g, ''),
    did: phoneNumber(text(map.did)),
    mobile: phoneNumber(text(map.mobile)),
    email: text(map.email),
    department: text(map.department),
    disabled: Number.isInteger(control) && (control & ACCOUNT_DISABLED) !== 0,
  }
}

/** A phone number as directories hold it ("+49 (30) 1234-567") without spaces and punctuation. */
export function phoneNumber(value: string): string {
  return value.replace(/[\s\-().\/]/g, '')
}

/** The text form of a key attribute value (see {@link toDirectoryEntry}). */
export function keyText(attribute: string, value: Buffer | string | undefined): string {
  if (value === undefined) return ''
  if (typeof value === 'string') return value.trim()
  if (attribute.toLowerCase() === 'objectguid' && value.length === 16) return guidText(value)
  const utf8 = value.toString('utf8')
  // eslint-disable-next-line no-control-regex
  if (Buffer.from(utf8, 'utf8').equals(value) && !/[\x00-\x1f\x7f]/.test(utf8)) return utf8.trim()
  return value.toString('hex')
}

/** A GUID in its usual text form: the first three groups are little-endian in the 16 bytes. */
export function guidText(bytes: Buffer): string {
  const hex = (start: number, end: number, reverse: boolean): string => {
    const part = Buffer.from(bytes.subarray(start, end))
    return (reverse ? part.reverse() : part).toString('hex')
  }
  return `${hex(0, 4, true)}-${hex(4, 6, true)}-${hex(6, 8, true)}-${hex(8, 10, false)}-${hex(10, 16, false)}`
}
