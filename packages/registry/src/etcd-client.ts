import { Etcd3, type IOptions, isRecoverableError } from 'etcd3'
// Not re-exported by etcd3's index; its static switch is how the library orders its hosts.
import { ConnectionPool } from 'etcd3/lib/connection-pool'
import { ConsecutiveBreaker, ExponentialBackoff, circuitBreaker, handleWhen, noop } from 'cockatiel'

/** Options of {@link createEtcdClient}. */
export interface EtcdClientOptions {
  /** Deadline of each unary etcd call, in ms (default 5000). Streams (watch, keepalive) have none. */
  callTimeoutMs?: number
  /** How long to wait for a connection, in ms (default 3000; etcd3's own default is 30 s). */
  dialTimeoutMs?: number
  /** TLS material for etcd, if it serves https. */
  credentials?: IOptions['credentials']
}

/**
 * Builds the etcd3 client every registry component uses, with fault handling set explicitly:
 *
 * - `global` is a no-op: etcd3's default retries any "recoverable" failure three times, which
 *   would resend a transaction whose outcome is unknown. The registry's writers decide for
 *   themselves: every write is a compare-guarded transaction that also creates its request
 *   record, so the writer re-reads and retries safely (see fenced-writer.ts).
 * - `host`, with several endpoints, opens a circuit for 1 s after 2 consecutive failures, so
 *   calls skip a dead member instead of timing out on it again and again. With one endpoint (a
 *   one-member cluster, or a branch's etcd grpc-proxy) there is no other member to skip to: a
 *   circuit would only turn a blip into a second in which every call fails at once, and blips
 *   are common (etcd3 closes all of a host's channels after any stream error, and fails the calls
 *   in flight with them). The registry's own retries (retryRead, the fenced writer) ride them out.
 * - watch reconnects back off from 100 ms to at most 2 s (etcd3's default allows 30 s, longer
 *   than a seat revocation may take).
 * - gRPC keepalive pings every 10 s (etcd's server allows pings every 5 s at most), so a
 *   half-open connection to a dead member is noticed.
 * - the endpoints are tried in the order given, nearest first: every call (and stream) goes to the
 *   first whose circuit is closed, the others are its fallbacks. etcd3 picks a random member per
 *   call by default, so a branch's registry sent two calls in three to a member across the WAN,
 *   one round trip more each (issue 13: a sign-in crossed the WAN 12 to 17 times at 30, 80 and
 *   150 ms RTT). etcd3 orders its hosts by a process-wide switch (`deterministicOrder`, which
 *   tries them last to first): set here, with the list reversed.
 */
export function createEtcdClient(endpoints: readonly string[], options: EtcdClientOptions = {}): Etcd3 {
  if (endpoints.length === 0) throw new Error('createEtcdClient needs at least one endpoint')
  const callTimeoutMs = options.callTimeoutMs ?? 5_000
  ConnectionPool.deterministicOrder = true
  return new Etcd3({
    hosts: [...endpoints].reverse(),
    ...(options.credentials ? { credentials: options.credentials } : {}),
    dialTimeout: options.dialTimeoutMs ?? 3_000,
    defaultCallOptions: (context) => (context.isStream ? {} : { deadline: Date.now() + callTimeoutMs }),
    grpcOptions: {
      'grpc.keepalive_time_ms': 10_000,
      'grpc.keepalive_timeout_ms': 3_000,
      'grpc.keepalive_permit_without_calls': 1,
      'grpc.initial_reconnect_backoff_ms': 100,
      'grpc.max_reconnect_backoff_ms': 1_000,
    },
    faultHandling: {
      global: noop,
      host: endpoints.length > 1 ? () => circuitBreaker(handleWhen(isRecoverableError), { halfOpenAfter: 1_000, breaker: new ConsecutiveBreaker(2) }) : () => noop,
      watchBackoff: new ExponentialBackoff({ initialDelay: 100, maxDelay: 2_000 }).next(),
    },
  })
}
