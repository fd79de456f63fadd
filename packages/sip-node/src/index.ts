// The public surface of @flexseat/sip-node: the node itself, its configuration, and the pieces
// tests and other tools use (the typed drachtio-srf view, digest, trunk signatures, routing).
export { BindingReporter, DEBOUNCE_MS, MAX_REPORT, RESYNC_INTERVAL_MS, RETRY_MS } from './binding-reporter'
export type { BindingReporterOptions, ReporterLease, ReporterRegistrar } from './binding-reporter'
export { CallRouter, CATCH_UP_MS, DIALLABLE, LOCATION_HEADER, PAI_HEADER, withUser } from './call-router'
export type { CallDesk, CallFacts, CallRouterOptions, CallWorker, EmergencyFacts, ForkLeg, PhoneCall, RouteDecision, RouterDirectory, RouterSeats, RouteTarget, TrunkCall } from './call-router'
export { ActivityReporter } from './activity-reporter'
export type { ActivityReporterOptions, ActivitySink } from './activity-reporter'
export { CallLog } from './call-log'
export { localTime, scheduledEnd, SeatWarnings, warningText } from './seat-warnings'
export type { SeatWarningsOptions } from './seat-warnings'
export type { CallSink, CallStart } from './call-log'
export { CALL_DEBOUNCE_MS, CALL_RETRY_MS, CallReporter, MAX_CALLS_PER_CALL, MAX_QUEUED_CALLS } from './call-reporter'
export type { CallReporterOptions } from './call-reporter'
export { deviceUrn, GEOLOCATION_HEADER, GEOLOCATION_ROUTING_HEADER, geolocationValue, locationText, PIDF_CONTENT_TYPE, pidfLo, withLocation, xmlText } from './emergency-location'
export type { DeskLocation, LocationPart, PidfOptions } from './emergency-location'
export { ForkedCall } from './forked-call'
export type { ForkedCallOptions, ForkedLeg } from './forked-call'
export { SecurityDesk } from './security-desk'
export type { SecurityDeskOptions } from './security-desk'
export { loadSipNodeConfig } from './config'
export type { SipNodeConfig } from './config'
export { checkSyncEvent } from './check-sync'
export { ConfirmationLease, MIN_MARGIN_MS, renewDeadline, validUntil } from './confirmation-lease'
export type { ConfirmationLeaseEvents, ConfirmationLeaseOptions } from './confirmation-lease'
export { constantTimeEqual, digestResponse, DigestVerifier, ha1Of, NONCE_LIFETIME_SECONDS, parseDigestHeader } from './digest'
export type { DigestParams, DigestVerdict, DigestVerifierOptions } from './digest'
export { DirectoryCache } from './directory-cache'
export type { DirectoryCacheOptions } from './directory-cache'
export { RegistryCallError, SipNodeError } from './errors'
export type { SipNodeErrorCode } from './errors'
export { dialledNumber, maskFeatureCode, maskUri, parseFeatureCode, uriUser } from './feature-codes'
export type { FeatureCode, FeatureCodeSet } from './feature-codes'
export { FeatureHandler, featureRequestId, LOGIN_DEADLINE_MS } from './feature-handler'
export type { FeatureHandlerOptions, InviteIdentity } from './feature-handler'
export { featureReply, RETRY_AFTER_SECONDS, signedInText } from './feature-replies'
export type { FeatureOutcome, FeatureReply } from './feature-replies'
export { AuthGuard, MAX_DELAYED, MAX_TRACKED } from './auth-guard'
export type { AuthGuardEvents, GuardVerdict } from './auth-guard'
export { PhoneAuthenticator } from './phone-auth'
export type { PhoneAuthenticatorOptions, PhoneAuthResult, PhoneDirectory } from './phone-auth'
export { PhoneMessenger } from './phone-messenger'
export type { PhoneMessengerOptions } from './phone-messenger'
export { foreignTargetsOf, parseContact, parseSource, Registrar, sourceDestination, sourceText, uriHostPort } from './registrar'
export { claimNodeRecord, processExists } from './previous-node'
export type { PreviousNode } from './previous-node'
export type { Binding, RegistrarEvents, RegistrarOptions, RestoreDirectory, RestoreOutcome, SavedBinding, UnbindReason } from './registrar'
export { DEFAULT_REGISTRY_DEADLINE_MS, RegistryClient } from './registry-client'
export type { RegistryClientOptions } from './registry-client'
export { RingingCalls, ringingStopResponse } from './ringing-calls'
export type { RingingCall, RingingStop } from './ringing-calls'
export { SeatNotifier } from './seat-notifier'
export { ANSWER_WAIT_MS, DeskAnswers } from './desk-answers'
export type { NotifierLease, NotifierRinging, NotifierSeats, RevocationReason, SeatNotifierOptions } from './seat-notifier'
export { BackToBackCall, bLegHeaders, RING_TIMEOUT_MS } from './back-to-back-call'
export type { BackToBackCallOptions, CallOutcomeListener, RungSeat } from './back-to-back-call'
export { SeatStream } from './seat-stream'
export type { SeatStreamOptions } from './seat-stream'
export { isActive, SeatView } from './seat-view'
export type { SeatChange, SeatViewEvents } from './seat-view'
export { SipNode } from './sip-node'
export type { SipNodeOptions, SipNodeState } from './sip-node'
export { createSrf } from './srf-adapter'
export type {
  B2BUAOptions,
  B2BUAProgress,
  ConnectOptions,
  Handler,
  Middleware,
  ProxyOptions,
  ProxyResult,
  RequestOptions,
  SendOptions,
  SipHeaders,
  SrfApp,
  SrfDialog,
  SrfRequest,
  SrfResponse,
  SrfResponseMessage,
  SrfSipError,
} from './srf-adapter'
export { EPOCH_HEADER, HOPS_HEADER, IDENTITY_HEADER, REPLAY_CACHE_SIZE, signTrunk, TRUNK_HEADER, TRUNK_WINDOW_SECONDS, trunkRequestOf, TrunkVerifier, verifyTrunk } from './trunk-auth'
export type { TrunkClaim, TrunkRequestSource, TrunkVerdict, TrunkVerifierOptions } from './trunk-auth'
export { BusyLamps, DEFAULT_EXPIRES, DIALOG_EVENT, DIALOG_INFO_TYPE } from './busy-lamps'
export type { BusyLampsOptions, LampDirectory } from './busy-lamps'
export { dialogInfo, standInTag } from './dialog-info'
export type { LampDialog } from './dialog-info'
export { deviceKey, DialogView, userKey } from './dialog-view'
export { DialogStream } from './dialog-stream'
export { answerFrom, parsePickupCode, parseReplaces, PickableCalls } from './pickup'
export type { PickableCall, ReplacesTarget } from './pickup'
