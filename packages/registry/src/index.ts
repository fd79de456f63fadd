// The public surface of @flexseat/registry: the registry core over etcd, its error type and the
// one table from error codes to gRPC status.

export { RegistryCore } from './registry-core'
export type { RegistryCoreOptions, RegistryCoreState } from './registry-core'
export type { Caller, Role, SessionPrincipal } from './caller'
export { DEFAULT_CALL_LIST, MAX_CALLS_PER_REPORT } from './call-list'
export type { CallListPolicy } from './call-list'
export type { PinCheck } from './pin-check'
export { GRPC_STATUS_OF, RegistryError, invalidArgument, unavailable } from './errors'
export type { ErrorFacts } from './errors'
export { createEtcdClient } from './etcd-client'
export type { EtcdClientOptions } from './etcd-client'
export { CHECK_INTERVAL_MS, EtcdLeaderPlacement, MAX_RAFT_LAG, placementStep } from './etcd-leader-placement'
export type { EtcdLeaderPlacementOptions, MemberStatus, PlacementStep } from './etcd-leader-placement'
export type { LeaderInfo } from './leadership'
export { clearDesk, clusterMax, DEFAULT_LOCKOUT, lockedUntil, lockFor, recordFailure, recordSuccess } from './lockout'
export { DEFAULT_DESK_THROTTLE, deskPausedUntil, recordDeskFailure } from './desk-throttle'
export type { DeskThrottlePolicy, DeskThrottleRecord } from './desk-throttle'
export { PinTelemetry } from './pin-events'
export type { PinEvent } from './pin-events'
export type { Failure, Lock, LockoutPolicy, LockoutRecord } from './lockout'
export { DEFAULT_SCRYPT, hashPin, verifyPin } from './pin-hash'
export type { ScryptParams } from './pin-hash'
export { Keys } from './keys'
export {
  DEFAULT_TXN_LIMITS,
  PARTS_AT_ONCE,
  TxnTooLargeError,
  acceptsTxnOps,
  addSizes,
  assertWithinLimits,
  overLimits,
  readGroups,
  splitByLimits,
  txnSize,
  writeInParts,
} from './txn-limits'
export type { InPartsOptions, TxnLimits, TxnSize } from './txn-limits'
export { SeatExpiry } from './seat-expiry'
export type { ExpiringSeat, SeatExpiryOptions } from './seat-expiry'
// Sign-out policies (issue 19).
export { isTimeZone, nextDailySignOut, wallClock } from './daily-sign-out'
export { DEFAULT_POLICY, REAL_UNITS, SECOND_UNITS, resolvePolicy, seatDeadlines, validatePolicy } from './seat-policy'
export type { PolicyLevels, PolicyUnits, ResolvedPolicy, SeatDeadlines, SeatPolicyRecord } from './seat-policy'
export { seatEnd } from './seat-end'
export { renewedDeadlines, renewedSeat } from './seat-renewal'
export { planSeatEnd } from './seats'
export type { SeatContext } from './seats'
export { TxnReader } from './fenced-writer'
export { applyActivity } from './call-activity'
export type { ActivityEvent } from './call-activity'
export type { SeatEnd } from './seat-end'
// The gRPC surface and process (server side).
export { Authenticator, formatOnBehalfOf, loadTokensFile, mayCall, ON_BEHALF_OF_KEY, parseTokens, SESSION_KEY, sessionTokenOf, tokenDigest, TokensFileError } from './auth'
export type { RpcName, TokenEntry } from './auth'
export { ERROR_DETAIL_KEY, errorDetailOf, toGrpcStatus } from './grpc-errors'
export { REGISTRY_SERVICE_NAMES, RegistryServer } from './grpc-server'
export { mustMatchCertificate, SITE_URI_PREFIX, sitesOfCertificate } from './peer-site'
export type { RegistryServerOptions, RegistryServerState, TlsMaterial } from './grpc-server'
export { FORWARDED_KEY, LeaderForwarder } from './leader-forwarder'
export type { LeaderForwarderOptions } from './leader-forwarder'
export { loadRegistryConfig, RegistryConfigError } from './config'
export type { RegistryConfig } from './config'
export { RegistryProcess } from './registry-process'
export type { RegistryProcessOptions } from './registry-process'
export type { ServedCore } from './served-core'
export { freeDesks, validateFreeDesks } from './free-desks'
export { RetentionLease } from './retention-lease'
export { DEFAULT_SEAT_HISTORY, HISTORY_PAGE, type HistoryPage, historyEnd, historyKey, historyPageOf, historyPageRead, historyStart, historyTrim, MAX_TRIM, occupancyKey, SEAT_HISTORY_LEASE, SeatHistory } from './seat-history'
export type { SeatHistoryEntry, SeatHistoryOptions, SeatHistoryPolicy } from './seat-history'
export { formatDate, LocalClock, occupancy, parseDate } from './occupancy'
export type { CountedSeat, OccupancyInput } from './occupancy'
export { MAX_REPORT_DAYS, OccupancyReport } from './occupancy-report'
export type { OccupancyReportOptions } from './occupancy-report'
export { DEFAULT_SESSIONS, pinMark, PortalSessions, SESSION_LEASE, sessionId, toSession } from './sessions'
export type { PasswordChecker, PortalSessionsOptions, Proof, SessionPolicy, SessionRecord } from './sessions'
export { mustBeSelf, mustBeSelfId } from './session-scope'
