/**
 * SIP message parsing: datagrams (one message each) and TCP byte streams (messages delimited by
 * Content-Length).
 *
 * @see RFC 3261 §7 (message format), §18.3 (framing on stream transports), §25 (grammar)
 */
import { SipEngineError } from './errors';
import { checkHeaderRules } from './message-validation';
import { canonicalHeaderName, parseCSeq, parseVia, SipMessage } from './sip-message';

/** Largest SIP message the engine accepts (bytes). */
export const MAX_SIP_MESSAGE_BYTES = 64 * 1024;

const TOKEN = /^[A-Za-z0-9.!%*_+`'~-]+$/;

/**
 * Parses one complete SIP message. For datagrams (`datagram` true) a missing Content-Length
 * means "the rest of the datagram"; a Content-Length larger than the data is an error. With
 * `bodyIsRest` the body is everything after the blank line whatever Content-Length says (messages
 * from applications: drachtio-srf writes Content-Length in UTF-16 code units, not bytes, and
 * drachtio-server takes the rest of the frame as the body).
 *
 * @throws SipEngineError `SIP_PARSE` on any malformed input; never anything else.
 * @see RFC 3261 §7, §18.3
 */
export function parseSipMessage(data: Buffer, datagram = true, bodyIsRest = false): SipMessage {
  const headEnd = findHeaderEnd(data, 0);
  if (headEnd.end < 0) throw parseError('no end of headers');
  const head = data.toString('latin1', 0, headEnd.end);
  const lines = unfold(head.split(/\r?\n/));
  const first = lines.shift();
  if (first === undefined || first.length === 0) throw parseError('empty start line');
  const msg = parseStartLine(first);
  for (const line of lines) {
    if (line.length === 0) continue;
    const colon = line.indexOf(':');
    if (colon <= 0) throw parseError('header without colon');
    const name = line.slice(0, colon).trim();
    if (!TOKEN.test(name)) throw parseError('bad header name');
    const value = Buffer.from(line.slice(colon + 1).trim(), 'latin1').toString('utf8');
    msg.headers.push({ name, key: canonicalHeaderName(name), value });
  }
  const bodyStart = headEnd.end + headEnd.sepLength;
  const clRaw = msg.get('content-length');
  let length: number;
  if (bodyIsRest) {
    length = data.length - bodyStart;
  } else if (clRaw === undefined) {
    if (!datagram) throw parseError('missing Content-Length on a stream transport');
    length = data.length - bodyStart;
  } else {
    if (!/^\d{1,9}$/.test(clRaw)) throw parseError('bad Content-Length');
    length = Number(clRaw);
    if (bodyStart + length > data.length) throw parseError('body shorter than Content-Length');
  }
  msg.body = length === 0 ? Buffer.alloc(0) : Buffer.from(data.subarray(bodyStart, bodyStart + length));
  return msg;
}

/**
 * Checks the headers every request needs before the engine can handle it (RFC 3261 §8.1.1), the
 * CSeq method matching the request method (§8.2.2), and the header rules of
 * {@link checkHeaderRules} (single-valued fields, Max-Forwards, list syntax). Returns a reason,
 * or `undefined` when fine.
 */
export function validateMessage(msg: SipMessage): string | undefined {
  const vias = msg.getAll('via');
  if (vias.length === 0) return 'missing Via';
  if (parseVia(vias[0]!) === undefined) return 'bad Via';
  for (const h of ['from', 'to', 'call-id', 'cseq']) if (!msg.has(h)) return `missing ${h}`;
  const cseq = parseCSeq(msg.get('cseq'));
  if (cseq === undefined) return 'bad CSeq';
  if (msg.isRequest && cseq.method !== msg.method) return 'CSeq method does not match';
  return checkHeaderRules(msg);
}

function parseStartLine(line: string): SipMessage {
  if (line.startsWith('SIP/')) {
    const m = /^SIP\/2\.0 (\d{3}) ?(.*)$/.exec(line);
    if (!m) throw parseError('bad status line');
    const status = Number(m[1]);
    if (status < 100 || status > 699) throw parseError('bad status code');
    return SipMessage.response(status, Buffer.from(m[2]!, 'latin1').toString('utf8'));
  }
  // Liberal in what it accepts, as RFC 4475 §3.1.2.9 (lwsstart) and §3.1.2.10 (trws) permit: runs
  // of SP between the elements and SP before the CRLF (the engine re-serialises the start line).
  const m = /^([A-Za-z0-9.!%*_+`'~-]+) +(\S+) +SIP\/(\d+\.\d+) *$/.exec(line);
  if (!m) throw parseError('bad request line');
  if (m[3] !== '2.0') throw parseError('unsupported SIP version');
  if (!/^[A-Za-z][A-Za-z0-9+.-]*:/.test(m[2]!)) throw parseError('bad Request-URI');
  return SipMessage.request(m[1]!, m[2]!);
}

function unfold(lines: string[]): string[] {
  const out: string[] = [];
  for (const l of lines) {
    if ((l.startsWith(' ') || l.startsWith('\t')) && out.length > 1) out[out.length - 1] += ' ' + l.trim();
    else out.push(l);
  }
  return out;
}

/** Position of the blank line that ends the headers, and its length (4 for CRLFCRLF, 2 for LFLF). */
function findHeaderEnd(data: Buffer, from: number): { end: number; sepLength: number } {
  const crlf = data.indexOf('\r\n\r\n', from, 'latin1');
  const lf = data.indexOf('\n\n', from, 'latin1');
  if (crlf >= 0 && (lf < 0 || crlf < lf)) return { end: crlf, sepLength: 4 };
  if (lf >= 0) return { end: lf, sepLength: 2 };
  return { end: -1, sepLength: 0 };
}

function parseError(reason: string): SipEngineError {
  return new SipEngineError('SIP_PARSE', `malformed SIP message: ${reason}`);
}

/**
 * Splits a TCP byte stream into SIP messages. Keep-alive CRLFs between messages are skipped.
 *
 * @see RFC 3261 §18.3, RFC 5626 §3.5.1 (CRLF keep-alives)
 */
export class SipStreamParser {
  private buffer: Buffer = Buffer.alloc(0);
  /**
   * The header block of the message that could not be framed (after {@link push} threw), so the
   * transport can have it answered 400 before it closes the connection.
   */
  rejectedHead: Buffer | undefined;

  /**
   * Feeds bytes; returns the complete messages' raw bytes.
   *
   * @throws SipEngineError `SIP_PARSE` when the stream cannot be framed any more (the caller
   * closes the connection).
   */
  push(chunk: Buffer): Buffer[] {
    this.buffer = this.buffer.length === 0 ? chunk : Buffer.concat([this.buffer, chunk]);
    const out: Buffer[] = [];
    for (;;) {
      let start = 0;
      while (start < this.buffer.length && (this.buffer[start] === 13 || this.buffer[start] === 10)) start++;
      if (start > 0) this.buffer = this.buffer.subarray(start);
      if (this.buffer.length === 0) break;
      const he = findHeaderEnd(this.buffer, 0);
      if (he.end < 0) {
        if (this.buffer.length > MAX_SIP_MESSAGE_BYTES) throw parseError('headers too long');
        break;
      }
      const head = this.buffer.toString('latin1', 0, he.end);
      // Every Content-Length value, not only the first: two that disagree make the framing
      // ambiguous (two parsers would split the stream differently), a missing or non-numeric one
      // makes it impossible. Either way the connection cannot be trusted any further.
      // @see RFC 3261 §18.3, RFC 4475 §3.1.2.3 (ncl), §3.3.9 (mcl01)
      const values = new Set<string>();
      for (const m of head.matchAll(/(?:^|\n)(?:content-length|l)[ \t]*:[ \t]*([^\r\n]*)/gi)) values.add(m[1]!.trim());
      const [value] = values;
      if (values.size !== 1 || !/^\d{1,9}$/.test(value!)) {
        this.rejectedHead = this.buffer.subarray(0, he.end + he.sepLength);
        throw parseError(values.size > 1 ? 'Content-Length values disagree' : 'missing or bad Content-Length on a stream transport');
      }
      const total = he.end + he.sepLength + Number(value);
      if (total > MAX_SIP_MESSAGE_BYTES) throw parseError('message too large');
      if (this.buffer.length < total) break;
      out.push(this.buffer.subarray(0, total));
      this.buffer = this.buffer.subarray(total);
    }
    return out;
  }
}
