/**
 * Checks a parsed message must pass before the engine acts on it, beyond the headers RFC 3261
 * §8.1.1 requires: header fields that may appear once, scalar values, and the syntax of the
 * header fields whose parameters and list elements the engine routes on. Each rule is one that
 * RFC 4475's invalid messages exercise; what the RFC calls valid must still pass.
 *
 * @see RFC 3261 §7.3 (header fields), §20, §25.1 (grammar); RFC 4475 §3.1.2, §3.3
 */
import { parseCSeq, type SipMessage, splitHeaderList } from './sip-message';

/**
 * Header fields a request carries exactly once (RFC 3261 §7.3.1: only headers defined as a
 * comma-separated list may be repeated). Content-Length is handled apart: equal repetitions are
 * harmless, disagreeing ones make the framing ambiguous.
 * @see RFC 4475 §3.3.8 (multi01), §3.3.9 (mcl01)
 */
const SINGLE = ['call-id', 'to', 'from', 'cseq', 'max-forwards'] as const;

/** Header fields made of name-addr / addr-spec elements with generic parameters. */
const ADDRESS_LISTS = ['contact', 'route', 'record-route'] as const;

/** Largest Max-Forwards value. @see RFC 3261 §20.22, RFC 4475 §3.1.2.4 (scalar02) */
const MAX_FORWARDS_LIMIT = 255;

/**
 * Returns why a message is invalid, or `undefined`. Never throws.
 */
export function checkHeaderRules(msg: SipMessage): string | undefined {
  const counts = new Map<string, number>();
  const lengths = new Set<string>();
  for (const h of msg.headers) {
    counts.set(h.key, (counts.get(h.key) ?? 0) + 1);
    if (h.key === 'content-length') lengths.add(h.value.trim());
  }
  for (const key of SINGLE) if ((counts.get(key) ?? 0) > 1) return `more than one ${key}`;
  if (lengths.size > 1) return 'Content-Length values disagree';

  const mf = msg.get('max-forwards');
  // leading zeros are legal (1*DIGIT): RFC 4475 §3.1.1.1 sends `Max-Forwards: 0068`
  if (mf !== undefined && (!/^\d{1,9}$/.test(mf) || Number(mf) > MAX_FORWARDS_LIMIT)) return 'bad Max-Forwards';

  for (const key of ['via', ...ADDRESS_LISTS]) {
    for (const h of msg.headers) {
      if (h.key !== key) continue;
      const bad = listSyntaxError(h.value);
      if (bad !== undefined) return `bad ${key} (${bad})`;
    }
  }
  for (const key of ['from', 'to']) {
    const v = msg.get(key);
    if (v !== undefined) {
      const bad = listSyntaxError(v);
      if (bad !== undefined) return `bad ${key} (${bad})`;
    }
  }
  if (msg.isRequest && msg.get('cseq') !== undefined && parseCSeq(msg.get('cseq')) === undefined) return 'bad CSeq';
  return undefined;
}

/**
 * Finds the syntax errors of a comma-separated list of elements with `;`-parameters that the
 * engine's list splitting would otherwise paper over: an empty element (`a,,b`), an empty
 * parameter (`;;`, a trailing `;`), an unterminated quoted string or an unclosed `<`.
 * @see RFC 4475 §3.1.2.1 (badinv01: `;;,;,,`), §3.1.2.6 (quotbal)
 */
export function listSyntaxError(value: string): string | undefined {
  let quoted = false;
  let angle = false;
  let elementHasText = false;
  let afterSemi = false;
  for (let i = 0; i < value.length; i++) {
    const c = value[i]!;
    if (quoted) {
      if (c === '\\') i++;
      else if (c === '"') quoted = false;
      continue;
    }
    if (angle) {
      if (c === '>') angle = false;
      continue;
    }
    if (c === ' ' || c === '\t') continue;
    if (c === '"') {
      quoted = true;
      elementHasText = true;
      afterSemi = false;
    } else if (c === '<') {
      angle = true;
      elementHasText = true;
      afterSemi = false;
    } else if (c === ',') {
      if (!elementHasText) return 'empty list element';
      if (afterSemi) return 'empty parameter';
      elementHasText = false;
    } else if (c === ';') {
      if (afterSemi || !elementHasText) return 'empty parameter';
      afterSemi = true;
    } else {
      elementHasText = true;
      afterSemi = false;
    }
  }
  if (quoted) return 'unterminated quoted string';
  if (angle) return 'unclosed <';
  if (afterSemi) return 'empty parameter';
  if (!elementHasText && splitHeaderList(value).length > 0) return 'empty list element';
  return undefined;
}

/**
 * Request-URI schemes the engine hands to applications. Anything else is answered 416 (an
 * unknown scheme cannot be routed; the To header must not be used instead).
 * @see RFC 3261 §8.2.2.1, RFC 4475 §3.3.2 (unkscm), §3.3.3 (novelsc); RFC 3966 (tel),
 *   RFC 5031 (urn:service, emergency calls), RFC 3859/3860 (pres, im)
 */
export const SUPPORTED_URI_SCHEMES: ReadonlySet<string> = new Set(['sip', 'sips', 'tel', 'urn', 'pres', 'im']);

/** The scheme of a Request-URI, lower-cased ('' when there is none). */
export function uriScheme(uri: string): string {
  return /^([A-Za-z][A-Za-z0-9+.-]*):/.exec(uri)?.[1]?.toLowerCase() ?? '';
}
