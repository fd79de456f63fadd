/**
 * The in-memory SIP message: start line, an ordered list of headers kept exactly as received
 * (name spelling, compact forms and unknown headers included) and a raw body.
 *
 * @see RFC 3261 §7 (SIP messages), §20 (header fields)
 */

/** Compact header forms and the long names they stand for. @see RFC 3261 §7.3.3, §20 */
const COMPACT: Readonly<Record<string, string>> = {
  i: 'call-id', m: 'contact', e: 'content-encoding', l: 'content-length', c: 'content-type',
  f: 'from', s: 'subject', k: 'supported', t: 'to', v: 'via', o: 'event', r: 'refer-to',
  b: 'referred-by', x: 'session-expires', u: 'allow-events', a: 'accept-contact',
  j: 'reject-contact', d: 'request-disposition', y: 'identity', n: 'identity-info',
};

/** Lower-case long form of a header name (compact forms expanded). */
export function canonicalHeaderName(name: string): string {
  const lower = name.toLowerCase();
  return COMPACT[lower] ?? lower;
}

/** One header line as received or set: the name keeps its spelling. */
export interface SipHeader {
  /** Name as it appears on the wire. */
  name: string;
  /** Lower-case long name, used for lookups. */
  key: string;
  /** Raw value, surrounding whitespace trimmed, folding collapsed. */
  value: string;
}

/** A SIP request or response. @see RFC 3261 §7.1, §7.2 */
export class SipMessage {
  /** Request method, or `undefined` for responses. */
  method: string | undefined;
  /** Request-URI, or `undefined` for responses. */
  uri: string | undefined;
  /** Response status code, or `undefined` for requests. */
  status: number | undefined;
  /** Response reason phrase. */
  reason: string | undefined;
  /** Headers in wire order. */
  headers: SipHeader[];
  /** Message body (possibly empty). */
  body: Buffer;

  private constructor() {
    this.method = undefined;
    this.uri = undefined;
    this.status = undefined;
    this.reason = undefined;
    this.headers = [];
    this.body = EMPTY;
  }

  /** Creates a request with no headers. */
  static request(method: string, uri: string): SipMessage {
    const m = new SipMessage();
    m.method = method;
    m.uri = uri;
    return m;
  }

  /** Creates a response with no headers. */
  static response(status: number, reason: string): SipMessage {
    const m = new SipMessage();
    m.status = status;
    m.reason = reason;
    return m;
  }

  /** Whether this is a request. */
  get isRequest(): boolean {
    return this.method !== undefined;
  }

  /** First value of a header (compact or long name, any case). */
  get(name: string): string | undefined {
    const key = canonicalHeaderName(name);
    for (const h of this.headers) if (h.key === key) return h.value;
    return undefined;
  }

  /** Whether the header is present. */
  has(name: string): boolean {
    return this.get(name) !== undefined;
  }

  /**
   * Every value of a header, comma-separated lists split into their elements (for Via, Route,
   * Record-Route, Contact and the like). @see RFC 3261 §7.3.1
   */
  getAll(name: string): string[] {
    const key = canonicalHeaderName(name);
    const out: string[] = [];
    for (const h of this.headers) if (h.key === key) for (const v of splitHeaderList(h.value)) out.push(v);
    return out;
  }

  /** Replaces every occurrence of a header with one line (kept at the first occurrence's place). */
  set(name: string, value: string): void {
    const key = canonicalHeaderName(name);
    const i = this.headers.findIndex((h) => h.key === key);
    if (i < 0) {
      this.headers.push({ name, key, value });
      return;
    }
    this.headers[i] = { name: this.headers[i]!.name, key, value };
    this.headers = this.headers.filter((h, j) => j <= i || h.key !== key);
  }

  /** Appends a header line. */
  append(name: string, value: string): void {
    this.headers.push({ name, key: canonicalHeaderName(name), value });
  }

  /** Inserts a header line before all others of the message. */
  prepend(name: string, value: string): void {
    this.headers.unshift({ name, key: canonicalHeaderName(name), value });
  }

  /** Removes every occurrence of a header. */
  remove(name: string): void {
    const key = canonicalHeaderName(name);
    this.headers = this.headers.filter((h) => h.key !== key);
  }

  /** Removes the first element of a possibly comma-separated header (the top Via or Route). */
  removeFirstValue(name: string): string | undefined {
    const key = canonicalHeaderName(name);
    const i = this.headers.findIndex((h) => h.key === key);
    if (i < 0) return undefined;
    const h = this.headers[i]!;
    const parts = splitHeaderList(h.value);
    const first = parts.shift();
    if (parts.length === 0) this.headers.splice(i, 1);
    else this.headers[i] = { name: h.name, key, value: parts.join(', ') };
    return first;
  }

  /** A deep copy (body shared: bodies are never mutated in place). */
  clone(): SipMessage {
    const m = new SipMessage();
    m.method = this.method;
    m.uri = this.uri;
    m.status = this.status;
    m.reason = this.reason;
    m.headers = this.headers.map((h) => ({ ...h }));
    m.body = this.body;
    return m;
  }

  /** The start line without CRLF. */
  startLine(): string {
    return this.isRequest ? `${this.method} ${this.uri} SIP/2.0` : `SIP/2.0 ${this.status} ${this.reason ?? ''}`;
  }

  /**
   * Serialises the message. Content-Length is always rewritten to the body's byte length (a
   * compact `l` stays compact). @see RFC 3261 §7.4.2, §20.14
   */
  toBuffer(): Buffer {
    let head = this.startLine() + '\r\n';
    let sawLength = false;
    for (const h of this.headers) {
      if (h.key === 'content-length') {
        if (sawLength) continue;
        sawLength = true;
        head += `${h.name}: ${this.body.length}\r\n`;
      } else {
        head += `${h.name}: ${h.value}\r\n`;
      }
    }
    if (!sawLength) head += `Content-Length: ${this.body.length}\r\n`;
    head += '\r\n';
    if (this.body.length === 0) return Buffer.from(head, 'utf8');
    return Buffer.concat([Buffer.from(head, 'utf8'), this.body]);
  }

  /** Serialised form as a UTF-8 string. */
  toString(): string {
    return this.toBuffer().toString('utf8');
  }
}

const EMPTY = Buffer.alloc(0);

/**
 * Splits a header value on the commas that separate list elements, ignoring commas inside
 * quoted strings and angle brackets. @see RFC 3261 §7.3.1
 */
export function splitHeaderList(value: string): string[] {
  if (!value.includes(',')) return [value.trim()];
  const out: string[] = [];
  let depth = 0;
  let quoted = false;
  let start = 0;
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (quoted) {
      if (c === 92 /* \ */) i++;
      else if (c === 34 /* " */) quoted = false;
    } else if (c === 34) quoted = true;
    else if (c === 60 /* < */) depth++;
    else if (c === 62 /* > */) depth = Math.max(0, depth - 1);
    else if (c === 44 /* , */ && depth === 0) {
      out.push(value.slice(start, i).trim());
      start = i + 1;
    }
  }
  out.push(value.slice(start).trim());
  return out.filter((v) => v.length > 0);
}

/** Parses `;name=value;flag` parameter lists (names lower-cased). */
export function parseParams(s: string): Map<string, string> {
  const params = new Map<string, string>();
  for (const part of s.split(';')) {
    const p = part.trim();
    if (p.length === 0) continue;
    const eq = p.indexOf('=');
    if (eq < 0) params.set(p.toLowerCase(), '');
    else params.set(p.slice(0, eq).trim().toLowerCase(), p.slice(eq + 1).trim());
  }
  return params;
}

/** A parsed Via element. @see RFC 3261 §20.42 */
export interface Via {
  /** Transport in upper case (`UDP`, `TCP`, ...). */
  transport: string;
  host: string;
  /** Port, or `undefined` when absent. */
  port: number | undefined;
  params: Map<string, string>;
  /** The branch parameter, or '' when absent. */
  branch: string;
}

/** Parses one Via element; returns `undefined` for garbage. @see RFC 3261 §20.42 */
export function parseVia(value: string): Via | undefined {
  const m = /^\s*SIP\s*\/\s*2\.0\s*\/\s*([A-Za-z]+)\s+(\[[^\]]+\]|[^\s;:]+)(?:\s*:\s*(\d+))?\s*(;.*)?$/i.exec(value);
  if (!m) return undefined;
  // a port outside 1..65535 would make every later send to it throw (ERR_SOCKET_BAD_PORT)
  if (m[3] !== undefined && !validPort(m[3])) return undefined;
  const params = parseParams(m[4] ?? '');
  return {
    transport: m[1]!.toUpperCase(),
    host: m[2]!,
    port: m[3] === undefined ? undefined : Number(m[3]),
    params,
    branch: params.get('branch') ?? '',
  };
}

/** A parsed name-addr / addr-spec (From, To, Contact, Route). @see RFC 3261 §20.10, §25.1 */
export interface NameAddr {
  display: string;
  uri: string;
  params: Map<string, string>;
}

/** Parses a name-addr or addr-spec; returns `undefined` for garbage. */
export function parseNameAddr(value: string): NameAddr | undefined {
  const v = value.trim();
  const lt = v.indexOf('<');
  if (lt >= 0) {
    const gt = v.indexOf('>', lt);
    if (gt < 0) return undefined;
    return { display: v.slice(0, lt).trim(), uri: v.slice(lt + 1, gt).trim(), params: parseParams(v.slice(gt + 1)) };
  }
  if (v === '*') return { display: '', uri: '*', params: new Map() };
  const semi = v.indexOf(';');
  const uri = semi < 0 ? v : v.slice(0, semi);
  if (uri.length === 0 || !uri.includes(':')) return undefined;
  return { display: '', uri: uri.trim(), params: parseParams(semi < 0 ? '' : v.slice(semi)) };
}

/** The tag parameter of a From/To value, or ''. @see RFC 3261 §19.3 */
export function tagOf(value: string | undefined): string {
  if (value === undefined) return '';
  return parseNameAddr(value)?.params.get('tag') ?? '';
}

/** A parsed SIP URI (only the parts the engine routes on). @see RFC 3261 §19.1 */
export interface SipUri {
  scheme: string;
  user: string;
  host: string;
  port: number | undefined;
  params: Map<string, string>;
}

/** Parses a sip:/sips: URI; returns `undefined` for other schemes or garbage. */
export function parseSipUri(uri: string): SipUri | undefined {
  const m = /^(sips?):(?:([^@]*)@)?(\[[^\]]+\]|[^:;?>]+)(?::(\d+))?([^?]*)?/i.exec(uri.trim());
  if (!m) return undefined;
  if (m[4] !== undefined && !validPort(m[4])) return undefined;
  return {
    scheme: m[1]!.toLowerCase(),
    user: m[2] ?? '',
    host: m[3]!,
    port: m[4] === undefined ? undefined : Number(m[4]),
    params: parseParams(m[5] ?? ''),
  };
}

/** Whether a decimal port string is within 1..65535 (0 and larger values cannot be sent to). */
function validPort(digits: string): boolean {
  if (digits.length > 5) return false;
  const n = Number(digits);
  return n >= 1 && n <= 65535;
}

/** A parsed CSeq. @see RFC 3261 §20.16 */
export interface CSeq {
  seq: number;
  method: string;
}

/** Parses a CSeq value; returns `undefined` for garbage. */
export function parseCSeq(value: string | undefined): CSeq | undefined {
  if (value === undefined) return undefined;
  const m = /^\s*(\d{1,10})\s+([A-Za-z0-9.!%*_+`'~-]+)\s*$/.exec(value);
  if (!m) return undefined;
  const seq = Number(m[1]);
  if (seq > 0xffffffff) return undefined;
  return { seq, method: m[2]! };
}

/**
 * The CANCEL for a client INVITE: same Request-URI, top Via (so the branch matches), Route,
 * From, To, Call-ID and CSeq number with method CANCEL.
 * @see RFC 3261 §9.1
 */
export function cancelFor(invite: SipMessage): SipMessage {
  const cancel = SipMessage.request('CANCEL', invite.uri ?? '');
  cancel.append('Via', invite.getAll('via')[0] ?? '');
  cancel.append('Max-Forwards', '70');
  for (const r of invite.getAll('route')) cancel.append('Route', r);
  cancel.append('From', invite.get('from') ?? '');
  cancel.append('To', invite.get('to') ?? '');
  cancel.append('Call-ID', invite.get('call-id') ?? '');
  cancel.append('CSeq', `${parseCSeq(invite.get('cseq'))?.seq ?? 1} CANCEL`);
  return cancel;
}
