/**
 * What the leader last saw of who is where, kept only to guess which keys a login will read, so
 * that the fenced writer fetches them all in its first round trip (see {@link TxnReader.prefetch}):
 * the extension's owner, that user's desk and department, the desk's occupant, a desk's site.
 *
 * A hint is never trusted: the plan reads every key it uses through the transaction reader, and
 * every value read is compared at commit. A wrong or stale hint costs one more read round trip
 * (the plan fetches what it actually needs), never a wrong outcome. Bounded: when it holds
 * `maxEntries` (default 100 000) entries it starts afresh.
 *
 * @see ./fenced-writer.ts
 */
export class PrefetchHints {
  readonly #maxEntries: number
  readonly #owner = new Map<string, string>()
  readonly #desk = new Map<string, string>()
  readonly #occupant = new Map<string, string>()
  readonly #site = new Map<string, string>()
  readonly #department = new Map<string, string>()

  constructor(maxEntries = 100_000) {
    this.#maxEntries = maxEntries
  }

  /** The user who owned `extension` when last seen. */
  ownerOf(extension: string): string | undefined {
    return this.#owner.get(extension)
  }

  /** The desk `userId` sat at when last seen. */
  deskOf(userId: string): string | undefined {
    return this.#desk.get(userId)
  }

  /** The user at `deviceId` when last seen. */
  occupantOf(deviceId: string): string | undefined {
    return this.#occupant.get(deviceId)
  }

  /** The site of `deviceId` when last seen. */
  siteOf(deviceId: string): string | undefined {
    return this.#site.get(deviceId)
  }

  /** The department of `userId` when last seen ('' for none; undefined when never seen). */
  departmentOf(userId: string): string | undefined {
    return this.#department.get(userId)
  }

  noteDepartment(userId: string, department: string): void {
    this.#set(this.#department, userId, department)
  }

  noteOwner(extension: string, userId: string): void {
    this.#set(this.#owner, extension, userId)
  }

  /** `userId` sits at `deviceId` (or nowhere: undefined). */
  noteDesk(userId: string, deviceId: string | undefined): void {
    if (deviceId === undefined) this.#desk.delete(userId)
    else this.#set(this.#desk, userId, deviceId)
  }

  /** `userId` sits at `deviceId` (or nobody does: undefined). */
  noteOccupant(deviceId: string, userId: string | undefined): void {
    if (userId === undefined) this.#occupant.delete(deviceId)
    else this.#set(this.#occupant, deviceId, userId)
  }

  noteSite(deviceId: string, siteId: string): void {
    this.#set(this.#site, deviceId, siteId)
  }

  #set(map: Map<string, string>, key: string, value: string): void {
    if (map.size >= this.#maxEntries && !map.has(key)) map.clear()
    map.set(key, value)
  }
}
