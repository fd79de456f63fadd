/**
 * The BLF keys a desk shows, read as the provisioning service reads them (packages/provisioning,
 * profiles.ts and desk-source.ts: the same rules, which that package states): a worker seated
 * at a flex desk (an active seat), the worker's own keys when they have any, else the profile
 * their `function_key_profile` names, else the site's default profile; a desk nobody sits at
 * (and a lobby phone), the profile the device names, else the site's default. A name that names
 * no profile counts as empty. These are the members of the desk's busy-lamp list
 * (busy-lamps.ts, `sip:blf-list@<domain>`). Nothing is cached here: a list is read when it is
 * subscribed or the seat at its desk changes, and compared after each directory refresh (the node
 * then passes a source reading the directory just listed and each profile once).
 */
import { type Device, type FunctionKey, FunctionKeyType, type Seat, type User } from '@flexseat/proto'
import { isActive } from './seat-view'

/** What the rules read. */
export interface DeskKeySource {
  getDevice(key: { deviceId: string }): Promise<Device | undefined>
  getUser(userId: string): Promise<User | undefined>
  getFunctionKeyProfile(name: string): Promise<{ keys: FunctionKey[] } | undefined>
  /** The seat at a device (the node's seat view). */
  seatAt(deviceId: string): Seat | undefined
  /** The site's `provisioning.default_profile` (undefined: none). */
  siteDefaultProfile: string | undefined
}

/** The desk's BLF keys in key order: the extension watched and the key's label (its value when unlabelled). */
export async function deskBlfKeys(source: DeskKeySource, deviceId: string): Promise<{ extension: string; label: string }[]> {
  const device = await source.getDevice({ deviceId })
  if (device === undefined) return []
  const profile = async (name: string | undefined): Promise<FunctionKey[] | undefined> => (name === undefined || name === '' ? undefined : (await source.getFunctionKeyProfile(name))?.keys)
  const seat = device.flexHost ? source.seatAt(deviceId) : undefined
  const user = seat !== undefined && isActive(seat) ? await source.getUser(seat.userId) : undefined
  let keys: FunctionKey[]
  if (user !== undefined && user.functionKeys.length > 0) keys = user.functionKeys
  else keys = (await profile(user !== undefined ? user.functionKeyProfile : device.functionKeyProfile)) ?? (await profile(source.siteDefaultProfile)) ?? []
  return keys.filter((key) => key.type === FunctionKeyType.FUNCTION_KEY_TYPE_BLF && key.value !== '').map((key) => ({ extension: key.value, label: key.label || key.value }))
}
