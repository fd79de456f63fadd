/**
 * How drachtio-server writes the headers an application gives it (in responses, new requests,
 * in-dialog requests, CANCELs and a proxy's header changes), so that the engine writes them the
 * same way: tools that match header names case-sensitively (sipp's header search among them)
 * see the same message from either engine. drachtio-srf itself lower-cases the names of the
 * headers it sets (`contact:`, `expires:`); drachtio-server rewrites them:
 *
 * - a header SIP knows (its table of well-known headers) takes the SIP stack's own spelling:
 *   `Contact`, `Expires`, `P-Asserted-Identity`, `WWW-Authenticate`, `Call-ID`, `CSeq`, `RAck`;
 * - any other name is capitalised after each dash (`my-header` → `My-Header`), except names
 *   starting with `X-` (either case), which are kept as given.
 *
 * In a proxied request a header the SIP stack holds once (a single-valued or a list header) is
 * replaced; any other header (Contact, the identity and credential headers, `X-...`) is added
 * beside the request's own. A proxy can never remove a header. Via, Route, Record-Route, RSeq
 * and Content-Length are the server's own and are never taken from the application.
 *
 * @see drachtio-server src/drachtio.cpp (`m_mapHdr2Tag`, `m_setImmutableHdrs`, `makeTags`,
 *   `capitalizeAfterDash`); sofia-sip libsofia-sip-ua/sip (`SIP_HEADER_CLASS`: names and kinds);
 *   libsofia-sip-ua/msg/msg_parser.c `msg_header_add` (single and list kinds replace)
 */

/** The SIP stack's spelling of each header drachtio-server treats as well known (by lower-case name). */
const WELL_KNOWN: ReadonlyMap<string, string> = new Map(
  [
    'User-Agent', 'Subject', 'Max-Forwards', 'Proxy-Require', 'Accept-Contact', 'Reject-Contact', 'Expires', 'Date',
    'Retry-After', 'Timestamp', 'Min-Expires', 'Priority', 'Call-Info', 'Organization', 'Server', 'In-Reply-To', 'Accept',
    'Accept-Encoding', 'Accept-Language', 'Allow', 'Require', 'Supported', 'Unsupported', 'Event', 'Allow-Events',
    'Subscription-State', 'Proxy-Authenticate', 'Proxy-Authentication-Info', 'Proxy-Authorization', 'Authorization',
    'WWW-Authenticate', 'Authentication-Info', 'Error-Info', 'Warning', 'Refer-To', 'Referred-By', 'Replaces',
    'Session-Expires', 'Min-SE', 'Path', 'Service-Route', 'Reason', 'Security-Client', 'Security-Server', 'Security-Verify',
    'Privacy', 'SIP-ETag', 'SIP-If-Match', 'MIME-Version', 'Content-Type', 'Content-Encoding', 'Content-Language',
    'Content-Disposition', 'Request-Disposition', 'Refer-Sub', 'Alert-Info', 'Reply-To', 'P-Asserted-Identity',
    'P-Preferred-Identity', 'Remote-Party-ID', 'From', 'To', 'Call-ID', 'CSeq', 'Via', 'Route', 'Contact', 'RSeq', 'RAck',
    'Record-Route', 'Content-Length',
  ].map((name) => [name.toLowerCase(), name]),
);

/**
 * Headers the SIP stack holds once in a message (sofia-sip's `single` and `list` kinds): a proxy's
 * value replaces the request's. Every other header is added beside the request's own.
 */
const HELD_ONCE: ReadonlySet<string> = new Set([
  'call-id', 'content-disposition', 'content-type', 'cseq', 'date', 'sip-etag', 'event', 'expires', 'from', 'sip-if-match',
  'max-forwards', 'mime-version', 'min-expires', 'min-se', 'organization', 'priority', 'privacy', 'rack', 'refer-sub',
  'refer-to', 'referred-by', 'replaces', 'reply-to', 'retry-after', 'server', 'session-expires', 'subject',
  'subscription-state', 'timestamp', 'to', 'user-agent',
  'allow', 'allow-events', 'content-encoding', 'content-language', 'in-reply-to', 'proxy-require', 'request-disposition',
  'require', 'supported', 'unsupported',
]);

/** Headers drachtio-server never takes from an application (by lower-case long name). */
export const SERVER_OWNED_HEADERS: ReadonlySet<string> = new Set(['via', 'route', 'rseq', 'record-route', 'content-length']);

/** The name drachtio-server writes for a header name an application gave (see the file comment). */
export function applicationHeaderName(name: string): string {
  const trimmed = name.trim();
  const known = WELL_KNOWN.get(trimmed.toLowerCase());
  if (known !== undefined) return known;
  if (/^x-/i.test(trimmed)) return trimmed;
  return trimmed.replace(/(^|-)([^-])/g, (_m, dash: string, c: string) => dash + c.toUpperCase());
}

/** Whether an application's header replaces the request's own in a proxied request (else it is added). */
export function proxyReplaces(key: string): boolean {
  return HELD_ONCE.has(key);
}
