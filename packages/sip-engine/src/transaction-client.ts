/**
 * Client transactions: retransmit requests over UDP (Timers A/E), time out (Timers B/F), pass the
 * first provisional-or-final responses up once each, and ACK non-2xx finals to INVITE
 * (Timer D); non-INVITE linger in Completed for Timer K.
 *
 * @see RFC 3261 §17.1.1 (INVITE), §17.1.2 (non-INVITE), RFC 6026 §7.2 (Accepted, Timer M)
 */
import type { SipMessage } from './sip-message';
import { startTimer, stopTimer, type TimerValues } from './timers';
import type { Peer } from './transport';

/** States of a client transaction. @see RFC 3261 Figures 5 and 6, RFC 6026 Figure 4 */
export type ClientTransactionState = 'calling' | 'trying' | 'proceeding' | 'completed' | 'accepted' | 'terminated';

/** What a client transaction needs from the layer that owns it. */
export interface ClientTransactionHooks {
  /** Sends bytes to the transaction's destination. */
  send(data: Buffer): void;
  /**
   * A response for the transaction user: provisional responses, the final response, and (for
   * INVITE, in Accepted) further 2xx from other forks or retransmissions, flagged `retransmission`.
   */
  response(txn: ClientTransaction, res: SipMessage, raw: Buffer, retransmission: boolean): void;
  /** Timer B/F fired (or the transport failed) before a final response: a 408 for the TU. */
  timeout(txn: ClientTransaction): void;
  /** Builds the ACK for a non-2xx final response. @see RFC 3261 §17.1.1.3 */
  buildAck(txn: ClientTransaction, res: SipMessage): Buffer;
  /** Called once when the transaction terminates. */
  terminated(txn: ClientTransaction): void;
}

/** A client transaction. */
export class ClientTransaction {
  /** Engine-wide id, also the `stackTxnId` applications see. */
  readonly id: string;
  /** Top Via branch of the request. */
  readonly branch: string;
  /** The request as sent. */
  readonly request: SipMessage;
  /** Where it was sent. */
  readonly dest: Peer;
  /** Current state. */
  state: ClientTransactionState;
  /** Highest status received so far (0 before any). */
  lastStatus = 0;
  /** Free slot for the owner. */
  owner: unknown = undefined;

  private readonly raw: Buffer;
  private readonly isInvite: boolean;
  private readonly reliable: boolean;
  private readonly timers: TimerValues;
  private readonly hooks: ClientTransactionHooks;
  private interval: number;
  private timerRetransmit: NodeJS.Timeout | undefined;
  private timerTimeout: NodeJS.Timeout | undefined;
  private timerEnd: NodeJS.Timeout | undefined;
  private ack: Buffer | undefined;

  constructor(id: string, branch: string, request: SipMessage, raw: Buffer, dest: Peer, timers: TimerValues, hooks: ClientTransactionHooks) {
    this.id = id;
    this.branch = branch;
    this.request = request;
    this.raw = raw;
    this.dest = dest;
    this.isInvite = request.method === 'INVITE';
    this.reliable = dest.transport !== 'udp';
    this.timers = timers;
    this.hooks = hooks;
    this.state = this.isInvite ? 'calling' : 'trying';
    this.interval = timers.T1;
  }

  /** Matching key of the transaction. @see RFC 3261 §17.1.3 */
  get key(): string {
    return `${this.branch}|${this.request.method === 'ACK' ? 'INVITE' : this.request.method}`;
  }

  /** Sends the request and starts Timers A/E and B/F. */
  start(): void {
    this.hooks.send(this.raw);
    if (!this.reliable) this.scheduleRetransmit();
    this.timerTimeout = startTimer(64 * this.timers.T1, () => {
      if (this.state === 'calling' || this.state === 'trying' || this.state === 'proceeding') {
        this.hooks.timeout(this);
        this.terminate();
      }
    });
  }

  private scheduleRetransmit(): void {
    this.timerRetransmit = startTimer(this.interval, () => {
      const retransmitting = this.isInvite ? this.state === 'calling' : this.state === 'trying' || this.state === 'proceeding';
      if (!retransmitting) return;
      this.hooks.send(this.raw);
      this.interval = this.isInvite ? 2 * this.interval : this.state === 'proceeding' ? this.timers.T2 : Math.min(2 * this.interval, this.timers.T2);
      this.scheduleRetransmit();
    });
  }

  /** The transport could not send: behave as a timeout. @see RFC 3261 §17.1.4 */
  transportError(): void {
    if (this.state === 'terminated' || this.state === 'completed' || this.state === 'accepted') return;
    this.hooks.timeout(this);
    this.terminate();
  }

  /** A response matched this transaction. */
  receiveResponse(res: SipMessage, raw: Buffer): void {
    const status = res.status ?? 0;
    switch (this.state) {
      case 'calling':
      case 'trying':
      case 'proceeding':
        if (status < 200) {
          this.state = 'proceeding';
          // INVITE: a provisional ends Timers A and B; how long it may ring is the TU's business
          // (Timer C in a proxy, CANCEL by the application). @see RFC 3261 §17.1.1.2
          if (this.isInvite) {
            this.timerRetransmit = stopTimer(this.timerRetransmit);
            this.timerTimeout = stopTimer(this.timerTimeout);
          }
          this.lastStatus = Math.max(this.lastStatus, status);
          this.hooks.response(this, res, raw, false);
          return;
        }
        this.lastStatus = status;
        this.timerRetransmit = stopTimer(this.timerRetransmit);
        this.timerTimeout = stopTimer(this.timerTimeout);
        if (this.isInvite && status < 300) {
          this.state = 'accepted';
          this.timerEnd = startTimer(64 * this.timers.T1, () => this.terminate());
        } else if (this.isInvite) {
          this.state = 'completed';
          this.ack = this.hooks.buildAck(this, res);
          this.hooks.send(this.ack);
          this.timerEnd = startTimer(this.reliable ? 0 : 32000, () => this.terminate());
        } else {
          this.state = 'completed';
          this.timerEnd = startTimer(this.reliable ? 0 : this.timers.T4, () => this.terminate());
        }
        this.hooks.response(this, res, raw, false);
        return;
      case 'accepted':
        if (status >= 200 && status < 300) this.hooks.response(this, res, raw, true);
        return;
      case 'completed':
        if (this.isInvite && status >= 300 && this.ack) this.hooks.send(this.ack);
        return;
      case 'terminated':
        return;
    }
  }

  /** Terminates at once. Idempotent. */
  terminate(): void {
    if (this.state === 'terminated') return;
    this.state = 'terminated';
    this.timerRetransmit = stopTimer(this.timerRetransmit);
    this.timerTimeout = stopTimer(this.timerTimeout);
    this.timerEnd = stopTimer(this.timerEnd);
    this.hooks.terminated(this);
  }
}
