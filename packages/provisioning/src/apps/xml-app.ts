/**
 * An XML-browser application of the provisioning service: what a phone's key opens. Each is served
 * at `<device base>/apps/<name>[/<step>]` (GET, and POST for the XHTML forms), with the phone
 * already authenticated (its token or digest) and the page rendered for its family (pages.ts).
 * Adding one is adding an {@link XmlApp} to the list the service is created with (apps/index.ts);
 * packages/provisioning/README.md, "Adding an XML-browser application".
 */
import type { FeatureCodeSet } from '@flexseat/sip-node'
import type { Device, ListCallsRequest, ListCallsResponse, LoginRequest, LoginResponse, LogoutRequest, LogoutResponse, Seat } from '@flexseat/proto'
import type { Logger } from 'pino'
import type { Vendor } from '../desk'
import type { Page } from './pages'

/** The registry calls applications may make (with the service's provisioning token). */
export interface AppRegistry {
  login(request: LoginRequest, deadlineMs?: number): Promise<LoginResponse>
  logout(request: LogoutRequest): Promise<LogoutResponse>
  /** The seat at one of this branch's phones (undefined: nobody sits there). */
  getSeatAt(deviceId: string): Promise<Seat | undefined>
  /** A worker's calls (the registry allows the worker seated at `deviceId` only). */
  listCalls(request: ListCallsRequest): Promise<ListCallsResponse>
}

/** What an application's request brings. */
export interface AppRequest {
  /** The phone, authenticated. */
  readonly device: Device
  readonly vendor: Vendor
  /** The path segment after the app's name (`submit`), if any. */
  readonly step: string | undefined
  /** Query and form parameters (a form's body wins). Secrets among them are never logged. */
  readonly params: Readonly<Record<string, string>>
  /** The URL of `app` (`step`, `query`) for this phone: links and form targets. */
  url(app: string, step?: string, query?: Readonly<Record<string, string>>): string
  readonly featureCodes: FeatureCodeSet
  /** The site's IANA time zone (times on pages are local to the branch). */
  readonly timezone: string
  readonly registry: AppRegistry
  readonly logger: Logger
}

/** One application. */
export interface XmlApp {
  /** The URL segment, `^[a-z][a-z0-9-]*$`. */
  readonly name: string
  /** The page to show. Registry failures are the app's to turn into a page. */
  handle(request: AppRequest): Promise<Page>
}
