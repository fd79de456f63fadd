/**
 * What a desk phone's file says, independent of any vendor's format: the model every renderer
 * reads (renderers/), built by {@link composeDesk}, a pure function of the desk, the seat at it
 * and the function-key profile that applies (profiles.ts decides which one).
 */

/** The phone families with a format of their own; `generic` gets JSON. */
export type Vendor = 'yealink' | 'snom' | 'poly' | 'generic'

/** What a key does: a line of the phone's account, a busy lamp field, a speed dial, or an XML-browser application (its URL). */
export type KeyKind = 'line' | 'blf' | 'speed-dial' | 'app'

/** One programmable key, in key order. */
export interface DeskKey {
  readonly kind: KeyKind
  /** An extension or number (blf, speed-dial), a URL (app), empty (line). */
  readonly value: string
  /** What the key shows (never empty). */
  readonly label: string
}

/** The phone and where it stands. */
export interface Desk {
  readonly deviceId: string
  /** 12 lower-case hex digits. */
  readonly mac: string
  readonly vendor: Vendor
  /** "desk 3" (the device's label, or its id). */
  readonly label: string
  /** The phone's own extension (may be empty). */
  readonly extension: string
  /** A flex host; a lobby phone (false) never changes. */
  readonly flexHost: boolean
  readonly site: {
    readonly id: string
    readonly name: string
    /** IANA zone. */
    readonly timezone: string
    /** BCP 47. */
    readonly language: string
    /** SIP domain and digest realm of the phone's account. */
    readonly domain: string
    /** Where the phone registers. */
    readonly registrar: { readonly host: string; readonly port: number; readonly transport: 'udp' | 'tcp' }
    /**
     * The phone watches its BLF keys through the SIP node's resource list `sip:blf-list@<domain>`
     * (RFC 4662; Poly's `attendant.uri`), not one subscription per key (`provisioning.blf_list`).
     */
    readonly blfList?: boolean
  }
  /**
   * The URLs of this phone's softkey sign-in and sign-out, of its call list, and of the desk menu
   * linking the last two (for a phone with one application key: Poly), each carrying its token.
   */
  readonly apps: { readonly signIn: string; readonly signOut: string; readonly calls: string; readonly menu: string }
  /** The calendar year dates in the file are for (Poly's daylight-saving transitions). */
  readonly year: number
}

/** The worker seated at the desk (an active seat only: a pending one does not act yet). */
export interface SeatedWorker {
  readonly userId: string
  readonly extension: string
  readonly displayName: string
  /** The worker's line label (empty: "<extension> <display name>"). */
  readonly label: string
  /** BCP 47 (empty: the site's). */
  readonly language: string
}

/** The keys that apply (profiles.ts) and where they come from, for the logs and the generic format. */
export interface KeyProfile {
  /** `user` (the worker's own keys), `profile:<name>`, `site-default:<name>`, `none`. */
  readonly source: string
  readonly keys: readonly DeskKey[]
}

/** Everything a renderer writes. */
export interface DeskFile {
  readonly desk: Desk
  /** `seated`: a worker sits here; `idle`: a flex desk nobody sits at; `fixed`: not a flex host. */
  readonly state: 'seated' | 'idle' | 'fixed'
  readonly worker: SeatedWorker | undefined
  /** The account's line: its label and the display name calls go out with. */
  readonly line: { readonly label: string; readonly displayName: string }
  readonly language: string
  /**
   * In key order: first the sign-in key (Login on an idle flex desk, Logout then Calls on a seated
   * one; none on a fixed phone), then the profile's keys.
   */
  readonly keys: readonly DeskKey[]
  readonly keySource: string
}

/** Labels of the sign-in keys. */
export const LOGIN_LABEL = 'Login'
export const LOGOUT_LABEL = 'Logout'
/** Label of the key that opens the seated worker's call list (apps/call-list.ts). */
export const CALLS_LABEL = 'Calls'

/**
 * The file of `desk` with `seat` (undefined: nobody sits there) and the keys of `profile`. A
 * fixed phone (not a flex host) gets its own keys and no sign-in key whatever is passed as seat.
 */
export function composeDesk(desk: Desk, seat: SeatedWorker | undefined, profile: KeyProfile): DeskFile {
  const idleLine = { label: desk.extension === '' ? desk.label : `${desk.label} (${desk.extension})`, displayName: desk.label }
  if (!desk.flexHost) {
    return { desk, state: 'fixed', worker: undefined, line: idleLine, language: desk.site.language, keys: profile.keys, keySource: profile.source }
  }
  if (seat === undefined) {
    return {
      desk,
      state: 'idle',
      worker: undefined,
      line: idleLine,
      language: desk.site.language,
      keys: [{ kind: 'app', value: desk.apps.signIn, label: LOGIN_LABEL }, ...profile.keys],
      keySource: profile.source,
    }
  }
  return {
    desk,
    state: 'seated',
    worker: seat,
    line: { label: seat.label !== '' ? seat.label : `${seat.extension} ${seat.displayName}`.trim(), displayName: seat.displayName !== '' ? seat.displayName : seat.extension },
    language: seat.language !== '' ? seat.language : desk.site.language,
    keys: [{ kind: 'app', value: desk.apps.signOut, label: LOGOUT_LABEL }, { kind: 'app', value: desk.apps.calls, label: CALLS_LABEL }, ...profile.keys],
    keySource: profile.source,
  }
}
