/**
 * The typed view of drachtio-srf 5.0 as it behaves, for tests and benchmarks. It lives in the SIP
 * node's package (packages/sip-node/src/srf-adapter.ts), which is its production user; this file
 * only re-exports it under the names the tests have always imported.
 */
export { createSrf } from '@flexseat/sip-node'
export type {
  Handler,
  Middleware,
  ProxyOptions,
  ProxyResult,
  RequestOptions,
  SipHeaders,
  SrfApp,
  SrfDialog,
  SrfRequest,
  SrfResponse,
  SrfResponseMessage,
} from '@flexseat/sip-node'
