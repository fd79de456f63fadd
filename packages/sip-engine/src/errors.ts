/**
 * Errors raised by the SIP engine. Each carries a stable {@link SipEngineErrorCode}, an optional
 * cause and whether retrying can help; callers branch on `code`, never on the message text.
 */

/** Stable error codes of the SIP engine. */
export type SipEngineErrorCode =
  /** A SIP message could not be parsed (RFC 3261 §25 grammar, or a missing mandatory header). */
  | 'SIP_PARSE'
  /** A control-socket frame was malformed, oversized or truncated. */
  | 'WIRE_FRAMING'
  /** A control-socket message was well framed but not understood. */
  | 'WIRE_PROTOCOL'
  /** A configuration value or command-line flag is invalid. */
  | 'CONFIG'
  /** A socket could not be bound or used. */
  | 'TRANSPORT'
  /** No dialog matches the id the application gave. */
  | 'NO_DIALOG'
  /** No transaction matches the id the application gave. */
  | 'NO_TRANSACTION'
  /** The engine is not in a state that allows the operation. */
  | 'STATE';

/**
 * The single error class of the package.
 */
export class SipEngineError extends Error {
  /** Stable code to branch on. */
  readonly code: SipEngineErrorCode;
  /** Whether retrying the same operation later can succeed. */
  readonly retryable: boolean;

  constructor(code: SipEngineErrorCode, message: string, options: { cause?: unknown; retryable?: boolean } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'SipEngineError';
    this.code = code;
    this.retryable = options.retryable ?? false;
  }
}

/**
 * Maps an error code to the SIP status the engine answers with when the error is found while
 * handling a request that can still be answered.
 *
 * @see RFC 3261 §21 (response codes)
 */
export const SIP_STATUS_FOR_ERROR: Readonly<Record<SipEngineErrorCode, number>> = {
  SIP_PARSE: 400,
  WIRE_FRAMING: 500,
  WIRE_PROTOCOL: 500,
  CONFIG: 500,
  TRANSPORT: 503,
  NO_DIALOG: 481,
  NO_TRANSACTION: 481,
  STATE: 503,
};
