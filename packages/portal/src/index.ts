// The public surface of @flexseat/portal: the service, its configuration, its registry client,
// and the pure pieces (the error table, the JSON views).
export { loadPortalConfig } from './config'
export type { PortalConfig } from './config'
export { PortalError } from './errors'
export type { PortalErrorCode } from './errors'
export { runLiveMap } from './live-map'
export type { LiveMapOptions, LiveMapSend } from './live-map'
export { explain } from './messages'
export type { Explained } from './messages'
export { CSRF_HEADER, registerSecurity } from './plugins/security'
export type { SecurityOptions } from './plugins/security'
export { SessionGuard, sessionCookieName } from './plugins/session'
export type { PortalSession } from './plugins/session'
export { PortalRegistry, SESSION_HEADER } from './registry'
export type { Credential, PortalRegistryOptions, SessionCalls } from './registry'
export { MAX_HOURS } from './routes/worker'
export { PUBLIC_DIR } from './routes/pages'
export { PortalService } from './service'
export type { PortalServiceOptions } from './service'
export {
  BranchView,
  ClusterView,
  clusterView,
  DeviceView,
  deviceView,
  ErrorView,
  FreeDeskView,
  freeDeskView,
  HistoryView,
  historyView,
  OccupancyView,
  occupancyView,
  releaseWord,
  SeatEventView,
  seatEventView,
  SeatView,
  seatView,
  SessionView,
  sessionView,
  SiteView,
  siteView,
  UserView,
  userView,
} from './views'
