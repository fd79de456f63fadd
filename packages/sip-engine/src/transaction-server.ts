/**
 * Server transactions: absorb request retransmissions, retransmit the last response, and for
 * INVITE answer non-2xx finals' ACKs (Timers G, H, I) and absorb INVITE retransmissions after a
 * 2xx (RFC 6026 "Accepted", Timer L). Non-INVITE: Timer J.
 *
 * @see RFC 3261 §17.2.1 (INVITE), §17.2.2 (non-INVITE), RFC 6026 §7.1
 */
import { SipEngineError } from './errors';
import type { SipMessage } from './sip-message';
import { startTimer, stopTimer, type TimerValues } from './timers';
import type { Peer } from './transport';

/**
 * Bytes a challenged or refused INVITE over UDP may bring back per byte it brought in (its
 * retransmissions counted): Timer G stops retransmitting a 401, 403 or 407 beyond this, so a
 * spoofed source cannot be flooded with them (issue 21). The transaction still answers each
 * retransmitted INVITE and absorbs the ACK until Timer H.
 */
export const CHALLENGE_AMPLIFICATION = 2;
/** Finals to INVITE whose Timer G retransmissions {@link CHALLENGE_AMPLIFICATION} caps. */
const BUDGETED_FINALS = new Set([401, 403, 407]);

/** States of a server transaction. @see RFC 3261 Figures 7 and 8, RFC 6026 Figure 5 */
export type ServerTransactionState = 'trying' | 'proceeding' | 'completed' | 'confirmed' | 'accepted' | 'terminated';

/** What a server transaction needs from the layer that owns it. */
export interface ServerTransactionHooks {
  /** Sends bytes to the transaction's peer. */
  send(data: Buffer): void;
  /** Called once when the transaction terminates (remove it from tables). */
  terminated(txn: ServerTransaction): void;
  /** Called when Timer H fires: no ACK came for a non-2xx final response. */
  ackTimeout?(txn: ServerTransaction): void;
}

/** A server transaction. */
export class ServerTransaction {
  /** Engine-wide id, also the `stackTxnId` applications see. */
  readonly id: string;
  /** Matching key. @see RFC 3261 §17.2.3 */
  readonly key: string;
  private _request: SipMessage | undefined;
  /** Where the request came from; responses go back there. */
  readonly peer: Peer;
  /** Current state. */
  state: ServerTransactionState;
  /** To-tag used on every response the engine sends in this transaction ('' until chosen). */
  toTag = '';
  /** Status of the last response sent (0 before any). */
  lastStatus = 0;
  /** Free slot for the owner (application connection, proxy context...). */
  owner: unknown = undefined;
  /**
   * Called once, with the status, when the first final response is sent (whoever sends it: the
   * application, a CANCEL's 487, a timeout): state tied to the pending request ends there.
   */
  onFinal: ((status: number) => void) | undefined = undefined;

  /** Whether this is an INVITE transaction. */
  readonly isInvite: boolean;
  /** Whether the request came over a reliable transport (Timers G, I, J are 0). */
  readonly reliable: boolean;
  private readonly timers: TimerValues;
  private readonly hooks: ServerTransactionHooks;
  private lastResponse: Buffer | undefined;
  private timerG: NodeJS.Timeout | undefined;
  private timerEnd: NodeJS.Timeout | undefined;
  private timerPending: NodeJS.Timeout | undefined;
  private intervalG: number;
  /** INVITE only: bytes of the request times the copies received (the budget of Timer G's retransmissions). */
  private bytesIn = 0;
  /** Bytes sent in this transaction. */
  private bytesOut = 0;

  constructor(id: string, key: string, request: SipMessage, peer: Peer, timers: TimerValues, hooks: ServerTransactionHooks) {
    this.id = id;
    this.key = key;
    this._request = request;
    this.peer = peer;
    this.isInvite = request.method === 'INVITE';
    this.reliable = peer.transport !== 'udp';
    this.timers = timers;
    this.hooks = hooks;
    this.state = this.isInvite ? 'proceeding' : 'trying';
    this.intervalG = timers.T1;
    if (this.isInvite && !this.reliable) this.bytesIn = request.toBuffer().length;
  }

  /**
   * The request that created the transaction. Completed non-INVITE transactions drop it (they
   * only need the last response to answer retransmissions for Timer J), which halves their
   * memory; check {@link released} first after a final response.
   *
   * @throws SipEngineError `STATE` once released.
   */
  get request(): SipMessage {
    if (this._request === undefined) throw new SipEngineError('STATE', 'transaction request released');
    return this._request;
  }

  /** Whether the request has been released (non-INVITE, final response sent). */
  get released(): boolean {
    return this._request === undefined;
  }

  /** Whether a final response has been sent. */
  get finalSent(): boolean {
    return this.lastStatus >= 200;
  }

  /**
   * A retransmission of the request arrived: resend the last response (if any). Never delivered
   * to the transaction user again.
   */
  receiveRetransmission(): void {
    if (this.state === 'accepted' || this.state === 'terminated') return;
    if (this.isInvite && !this.reliable && this._request !== undefined) this.bytesIn += this._request.toBuffer().length;
    if (this.lastResponse !== undefined && this.state !== 'confirmed') this.send(this.lastResponse);
  }

  private send(data: Buffer): void {
    this.bytesOut += data.length;
    this.hooks.send(data);
  }

  /**
   * An ACK matched this INVITE transaction (ACK for a non-2xx final).
   *
   * @returns true when the ACK was absorbed here.
   */
  receiveAck(): boolean {
    if (!this.isInvite) return false;
    if (this.state === 'completed') {
      this.state = 'confirmed';
      this.timerG = stopTimer(this.timerG);
      this.timerEnd = stopTimer(this.timerEnd);
      this.timerEnd = startTimer(this.reliable ? 0 : this.timers.T4, () => this.terminate());
      return true;
    }
    return this.state === 'confirmed';
  }

  /**
   * Sends a response in this transaction and moves the state machine. Responses after a final
   * one are ignored (except further 2xx to INVITE, which the UA core retransmits itself).
   *
   * @returns false when the response was not sent (transaction already finished).
   */
  respond(status: number, data: Buffer): boolean {
    if (this.state === 'terminated' || this.state === 'completed' || this.state === 'confirmed') return false;
    if (this.state === 'accepted') {
      if (status >= 200 && status < 300) {
        this.send(data);
        return true;
      }
      return false;
    }
    this.lastStatus = status;
    this.lastResponse = data;
    this.send(data);
    if (status >= 200) {
      this.timerPending = stopTimer(this.timerPending);
      const onFinal = this.onFinal;
      this.onFinal = undefined;
      onFinal?.(status);
    }
    if (status < 200) {
      if (this.state === 'trying') this.state = 'proceeding';
      return true;
    }
    if (this.isInvite) {
      if (status < 300) {
        // RFC 6026: Accepted absorbs INVITE retransmissions for 64*T1 (Timer L).
        this.state = 'accepted';
        this.timerEnd = startTimer(64 * this.timers.T1, () => this.terminate());
      } else {
        this.state = 'completed';
        if (!this.reliable) this.scheduleG();
        this.timerEnd = startTimer(64 * this.timers.T1, () => {
          this.hooks.ackTimeout?.(this);
          this.terminate();
        });
      }
    } else {
      this.state = 'completed';
      this._request = undefined;
      this.timerEnd = startTimer(this.reliable ? 0 : 64 * this.timers.T1, () => this.terminate());
    }
    return true;
  }

  private scheduleG(): void {
    this.timerG = startTimer(this.intervalG, () => {
      if (this.state !== 'completed' || this.lastResponse === undefined) return;
      // A challenge or refusal: no more than CHALLENGE_AMPLIFICATION bytes out per byte in
      // (the phone that lost it retransmits its INVITE, and each copy is answered).
      if (BUDGETED_FINALS.has(this.lastStatus) && this.bytesOut + this.lastResponse.length > CHALLENGE_AMPLIFICATION * this.bytesIn) return;
      this.send(this.lastResponse);
      this.intervalG = Math.min(2 * this.intervalG, this.timers.T2);
      this.scheduleG();
    });
  }

  /**
   * Limits how long the transaction waits for its user (the application) to answer: unless a
   * final response (or, for INVITE, a provisional above 100) was sent within `ms`, `expire`
   * runs (it answers or terminates). Without it an unanswered request would be kept forever.
   * Mirrors drachtio-server's pending-request timeout.
   */
  limitPending(ms: number, expire: (txn: ServerTransaction) => void): void {
    this.timerPending = stopTimer(this.timerPending);
    this.timerPending = startTimer(ms, () => {
      this.timerPending = undefined;
      if (this.state === 'terminated' || this.finalSent || (this.isInvite && this.lastStatus > 100)) return;
      expire(this);
    });
  }

  /** Lifts the {@link limitPending} limit (the request was handed to the proxy core, which has its own timers). */
  unlimitPending(): void {
    this.timerPending = stopTimer(this.timerPending);
  }

  /** Terminates at once (engine stop, transport failure). Idempotent. */
  terminate(): void {
    if (this.state === 'terminated') return;
    this.state = 'terminated';
    this.timerPending = stopTimer(this.timerPending);
    this.timerG = stopTimer(this.timerG);
    this.timerEnd = stopTimer(this.timerEnd);
    this.hooks.terminated(this);
  }
}
