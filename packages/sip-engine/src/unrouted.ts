/**
 * What the engine answers to a request outside any dialog that no application takes: methods that
 * only exist within a dialog get 481 (there is no such dialog), methods an application could have
 * routed get 405 with the methods that are routed (503 while no application is connected at all,
 * so a phone retries once its node is back), unknown methods get 501.
 *
 * @see RFC 3261 §8.2.1 (405, 501), §15.1.2 (BYE), §21.4.6; RFC 3262 §3 (PRACK);
 *   RFC 3311 §5.2 (UPDATE); RFC 6086 §4.2.2 (INFO); RFC 6665 §4.1.3 (NOTIFY), §4.2.1 (SUBSCRIBE);
 *   RFC 3515 (REFER); drachtio-server src/controller.cpp (processMessageStatelessly)
 */

/** Methods the engine knows (RFC 3261 and the extensions drachtio-srf speaks). */
const KNOWN_METHODS: ReadonlySet<string> = new Set([
  'INVITE', 'ACK', 'BYE', 'CANCEL', 'OPTIONS', 'REGISTER', 'PRACK', 'SUBSCRIBE', 'NOTIFY', 'PUBLISH', 'INFO', 'REFER', 'MESSAGE', 'UPDATE',
]);

/**
 * Methods that only exist within a dialog (or an early dialog): outside one they are answered 481
 * whether or not an application routed them, as drachtio-server does for BYE and UPDATE.
 */
const DIALOG_ONLY: ReadonlySet<string> = new Set(['BYE', 'UPDATE', 'PRACK']);

/**
 * Methods that, when no application takes them, refer to a dialog, subscription or session
 * that does not exist here (an INFO outside an INVITE dialog, a NOTIFY for no subscription).
 */
const NO_SUCH_USAGE: ReadonlySet<string> = new Set(['INFO', 'NOTIFY']);

/** Methods that start something new of their own (a subscription, a transfer): 405 when not routed. */
const NOT_ALLOWED_UNLESS_ROUTED: ReadonlySet<string> = new Set(['SUBSCRIBE', 'REFER']);

/** An answer the engine sends itself. */
export interface EngineAnswer {
  status: number;
  reason: string;
  /** The Allow header value to add (405 / 501). */
  allow?: string;
}

/**
 * The answer to an out-of-dialog request that no application is offered, or `undefined` when it
 * goes to an application (`routed`) as usual.
 *
 * @param method the request method.
 * @param routed whether an application routed the method.
 * @param connected whether any application is connected.
 * @param allowed the methods applications route (upper case), for the Allow header.
 */
export function answerOutOfDialog(method: string, routed: boolean, connected: boolean, allowed: readonly string[]): EngineAnswer | undefined {
  if (DIALOG_ONLY.has(method)) return { status: 481, reason: 'Call/Transaction Does Not Exist' };
  if (routed) return undefined;
  const allow = allowHeader(allowed);
  if (NO_SUCH_USAGE.has(method)) return { status: 481, reason: 'Call/Transaction Does Not Exist' };
  if (!KNOWN_METHODS.has(method)) return allow ? { status: 501, reason: 'Not Implemented', allow } : { status: 501, reason: 'Not Implemented' };
  if (NOT_ALLOWED_UNLESS_ROUTED.has(method) && connected) return { status: 405, reason: 'Method Not Allowed', allow };
  return { status: 503, reason: 'Service Unavailable' };
}

function allowHeader(allowed: readonly string[]): string {
  const methods = new Set(allowed.filter((m) => KNOWN_METHODS.has(m)));
  // the engine itself always answers these (CANCEL of a pending INVITE, ACK of its responses)
  if (methods.has('INVITE')) for (const m of ['ACK', 'CANCEL', 'BYE']) methods.add(m);
  return [...methods].join(', ');
}
