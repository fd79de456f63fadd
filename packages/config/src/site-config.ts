import type { TollClassConfig } from './toll-classes'

/**
 * One branch office, as configured in `sites/<id>.yaml` (the camelCase of its YAML keys).
 * Loaded and validated once by {@link loadSite}/{@link loadSites}; treat it as read-only.
 */
export interface SiteConfig {
  /** `^[a-z0-9][a-z0-9._-]{0,63}$`; equals the file name without `.yaml` when loaded by {@link loadSites}. */
  id: string
  name: string
  /** An IANA time zone, e.g. `Europe/Amsterdam`. */
  timezone: string
  /** Numbers an idle flex host may still call (at least one). */
  emergencyNumbers: string[]
  /** Civic address sent with emergency calls from this branch. */
  dispatchableLocation: string
  /** This site's member of the etcd cluster. */
  etcd: { name: string; clientUrl: string; peerUrl: string }
  /** `listen` is `host:port` of the site's registry gRPC server. */
  registry: { listen: string }
  /**
   * `contact` and `trunkUri` are SIP URIs; `control` is the drachtio control socket `host:port`.
   * `carrierUri` (optional) is the branch's carrier (PSTN) gateway: emergency and external calls
   * from this branch's phones leave through it; without one they are refused with 503.
   */
  sip: { contact: string; control: string; domain: string; trunkUri: string; carrierUri?: string | undefined }
  /** Feature codes dialled at a phone, e.g. `*51`. */
  featureCodes: { login: string; changePin: string }
  /**
   * Regular expressions (JavaScript syntax) classifying dialled numbers; `classes` (optional) the
   * toll classes of external numbers and which classes the branch's phones may call
   * (toll-classes.ts). Without it every external number may be called from a seated desk.
   */
  dialPlan: { extension: string; external: string; classes?: TollClassConfig }
  /**
   * The branch's language, a BCP 47 tag (`de`, `en-US`): its desk phones' unless a worker has one
   * of their own. Loading sets it (`en` when the file has none); optional only for configurations
   * built in code.
   */
  language?: string
  /**
   * The branch's provisioning service (optional: without it the branch has none). `listen` is
   * `host:port`; `url` the base URL phones reach it at (default `http(s)://<listen>`, https when
   * the service has a certificate); `defaultProfile` the function-key profile of desks and
   * workers that name none (optional); `blfList` whether phones that can (Poly) watch their BLF
   * keys through one resource-list subscription (RFC 4662, `sip:blf-list@<domain>`) instead of one
   * subscription per key (default false).
   */
  provisioning?: { listen: string; url?: string | undefined; defaultProfile?: string | undefined; blfList?: boolean | undefined } | undefined
  /**
   * The branch's web portal (optional: without it the branch has none). `listen` is `host:port`;
   * `url` the base URL browsers reach it at (default `http(s)://<listen>`): its origin is the one
   * the portal accepts changes from.
   */
  portal?: { listen: string; url?: string | undefined } | undefined
  /**
   * How the SIP node meets password guessing and scanners (`sip_security`, every key optional:
   * loading fills in {@link DEFAULT_SIP_SECURITY}'s values; optional only for configurations built
   * in code, which then get the defaults).
   */
  sipSecurity?: SipSecurityConfig
  /** What emergency calls from this branch carry and whom they alert (optional; emergency.ts). */
  emergency?: EmergencyConfig | undefined
}

/**
 * The emergency settings of a branch (US MLTS rules: Kari's Law's notification, RAY BAUM'S Act's
 * dispatchable location; docs/OPERATIONS.md). Every key is optional.
 */
export interface EmergencyConfig {
  /**
   * Who gets a MESSAGE whenever an emergency call is placed from this branch: an extension (a
   * phone of this branch, or a worker seated at one) or a SIP URI (`security_desk`).
   */
  securityDesk?: string | undefined
  /**
   * The E.164 number a PSAP calls back when the caller has no number of their own (an idle desk,
   * a worker without a DID) (`callback_number`).
   */
  callbackNumber?: string | undefined
  /** The site's civic address: each desk's dispatchable location is it plus the desk's floor and room (`civic_address`). */
  civicAddress?: CivicAddress | undefined
}

/**
 * A civic address in RFC 5139's terms (the PIDF-LO civicAddress elements in brackets). Only the
 * country is required; the rest as the address needs.
 * @see RFC 5139 §3 (element meanings), RFC 4776 (CAtypes)
 */
export interface CivicAddress {
  /** Two upper-case letters, ISO 3166-1 (country). */
  country: string
  /** State or province (A1). */
  state?: string | undefined
  /** County, district (A2). */
  county?: string | undefined
  /** City, township (A3). */
  city?: string | undefined
  /** City division, borough (A4). */
  district?: string | undefined
  /** Street name (RD). */
  street?: string | undefined
  /** Street suffix, "Avenue" (STS). */
  streetSuffix?: string | undefined
  /** House number (HNO). */
  houseNumber?: string | undefined
  /** House number suffix, "A" (HNS). */
  houseNumberSuffix?: string | undefined
  /** Postal code (PC). */
  postalCode?: string | undefined
  /** Building (BLD). */
  building?: string | undefined
  /** Name of the place, the company (NAM). */
  name?: string | undefined
}

/**
 * The SIP node's answer to password guessing (docs/CONFIGURATION.md, `sip_security`). Failures
 * (a wrong digest, an unknown device id, malformed credentials) count per source address and per
 * account for `failureWindowSeconds`. A source past `failuresBeforeDelay` has every answer delayed,
 * `firstDelayMs` doubling per further failure up to `maxDelayMs`; past `failuresBeforeBan` it is
 * banned for `banSeconds` (403 to everything, nothing verified). An account past
 * `accountFailuresBeforeDelay` has its failures answered late, from any source; its right
 * credentials are never delayed or refused: no account is locked by failures alone.
 */
export interface SipSecurityConfig {
  /** false turns delays and bans off (`enabled`). */
  enabled: boolean
  failuresBeforeDelay: number
  failuresBeforeBan: number
  accountFailuresBeforeDelay: number
  failureWindowSeconds: number
  firstDelayMs: number
  maxDelayMs: number
  banSeconds: number
  /** Requests whose User-Agent names a known scanner (friendly-scanner, sipcli, sipvicious) get no answer (`drop_scanners`). */
  dropScanners: boolean
}

/** The values a site file that says nothing gets. */
export const DEFAULT_SIP_SECURITY: Readonly<SipSecurityConfig> = {
  enabled: true,
  failuresBeforeDelay: 5,
  failuresBeforeBan: 20,
  accountFailuresBeforeDelay: 10,
  failureWindowSeconds: 600,
  firstDelayMs: 250,
  maxDelayMs: 8_000,
  banSeconds: 900,
  dropScanners: true,
}

/**
 * The User-Agent substrings of scanners (compared case-insensitively) whose requests a site with
 * `sip_security.drop_scanners` drops unanswered: SIPVicious (`friendly-scanner` is svmap's and
 * svwar's default, `sipvicious` its newer one) and sipcli.
 */
export const SCANNER_USER_AGENTS: readonly string[] = ['friendly-scanner', 'sipcli', 'sipvicious']
