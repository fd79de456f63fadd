/**
 * @flexseat/sip-engine: a SIP engine that speaks drachtio's wire protocol, so unmodified
 * drachtio-srf applications run on it.
 */
export { SipEngine } from './engine';
export type { SipEngineOptions, SipEngineState, BoundSipAddress } from './engine';
export { defaultConfig, parseCommandLine, parseContact } from './config';
export type { SipEngineConfig, ContactSpec, CommandLine } from './config';
export { SipEngineError, SIP_STATUS_FOR_ERROR } from './errors';
export type { SipEngineErrorCode } from './errors';
export { SipMessage, parseVia, parseNameAddr, parseSipUri, parseCSeq, splitHeaderList, canonicalHeaderName } from './sip-message';
export { applicationHeaderName, proxyReplaces } from './header-names';
export { CompletedTransactions } from './completed-transactions';
export type { SipHeader, Via, NameAddr, SipUri, CSeq } from './sip-message';
export { parseSipMessage, validateMessage, SipStreamParser } from './sip-parser';
export { encodeFrame, FrameDecoder } from './wire-framing';
export { ServerTransaction } from './transaction-server';
export type { ServerTransactionState, ServerTransactionHooks } from './transaction-server';
export { ClientTransaction } from './transaction-client';
export type { ClientTransactionState, ClientTransactionHooks } from './transaction-client';
export { DEFAULT_TIMERS } from './timers';
export { DEFAULT_TCP_LIMITS } from './tcp-admission';
export type { TcpLimits, TcpAdmissionStats } from './tcp-admission';
export type { TimerValues } from './timers';
