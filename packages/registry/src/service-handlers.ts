import { once } from 'node:events'
import type { PeerCertificate } from 'node:tls'
import type { handleServerStreamingCall, handleUnaryCall, Metadata, MethodDefinition, ServerWritableStream } from '@grpc/grpc-js'
import { ErrorCode } from '@flexseat/proto'
import { context as otelContext, propagation, SpanKind, SpanStatusCode, type TextMapGetter, trace } from '@opentelemetry/api'
import type { Logger } from 'pino'
import { type Authenticator, mayCall, ON_BEHALF_OF_KEY, type RpcName } from './auth'
import type { Caller } from './caller'
import { RegistryError, unavailable } from './errors'
import { toGrpcStatus } from './grpc-errors'
import type { IncomingCall, LeaderForwarder } from './leader-forwarder'
import { mustMatchCertificate } from './peer-site'
import { undecodable } from './request-decoding'
import type { ServedCore } from './served-core'

/** What every service implementation works with. */
export interface ServiceContext {
  /** The core; throws RegistryError UNAVAILABLE while the instance is still starting. */
  core: () => ServedCore
  auth: Authenticator
  forwarder: LeaderForwarder
  logger: Logger
  /** Aborted when the server shuts down: open streams end with UNAVAILABLE (clients resume elsewhere). */
  closing: AbortSignal
  /** With mutual TLS: a SIP node's client certificate must name its site (peer-site.ts). Default false. */
  requireSiteCertificate?: boolean
}

/**
 * The caller of `call`, once its token is known and allowed `rpc`, and its request decoded
 * (INVALID_ARGUMENT for bytes that are not the request message or hold invalid UTF-8, see
 * request-decoding.ts); for a portal presenting a session, the session's principal
 * (sessions.ts), checked against `rpc` by its own role. Refusals are logged with what was called
 * and from where, never a token.
 */
async function authenticate(context: ServiceContext, rpc: RpcName, call: { metadata: Metadata; getPeer(): string; getAuthContext(): { sslPeerCertificate?: PeerCertificate }; request: unknown }): Promise<Caller> {
  try {
    const caller = context.auth.authenticate(call.metadata, rpc)
    // The client certificate vouches for the caller of this connection, not for the original
    // caller a forwarding instance names (peer-site.ts).
    if (call.metadata.get(ON_BEHALF_OF_KEY).length === 0) mustMatchCertificate(caller, call.getAuthContext().sslPeerCertificate, context.requireSiteCertificate === true)
    const bad = undecodable(call.request)
    if (bad !== undefined) throw bad
    if (caller.sessionToken === undefined) return caller
    const principal = await context.core().resolveSession(caller.sessionToken, caller.name, (name) => context.auth.hasAdmin(name))
    if (!mayCall(principal.role, rpc)) throw new RegistryError(ErrorCode.ERROR_CODE_PERMISSION_DENIED, 'permission denied')
    return principal
  } catch (error) {
    // Never the token: only what was called and from where.
    context.logger.info({ rpc, peer: call.getPeer(), ...(error instanceof RegistryError ? { code: ErrorCode[error.code] } : {}) }, 'call refused')
    throw error
  }
}

/** A unary read: authenticated, then answered by this instance's core. */
export function readHandler<Req, Res>(context: ServiceContext, rpc: RpcName, run: (request: Req, caller: Caller) => Promise<Res>): handleUnaryCall<Req, Res> {
  return (call, callback) => {
    // run() may throw synchronously (e.g. UNAVAILABLE while starting): start it inside the chain.
    authenticate(context, rpc, call)
      .then((caller) => run(call.request, caller))
      .then(
        (response) => callback(null, response),
        (error: unknown) => callback(toGrpcStatus(error, context.logger)),
      )
  }
}

/**
 * A unary write: authenticated, then run on the leader (here, or forwarded to it with the
 * metadata `annotate` gives, when given). `run` sees the incoming call (its deadline).
 */
export function writeHandler<Req, Res>(
  context: ServiceContext,
  rpc: RpcName,
  method: MethodDefinition<Req, Res>,
  run: (request: Req, caller: Caller, incoming: IncomingCall) => Promise<Res>,
  annotate?: (request: Req) => Promise<Record<string, string>>,
): handleUnaryCall<Req, Res> {
  return (call, callback) => {
    const incoming = { metadata: call.metadata, deadline: call.getDeadline() }
    const extra = annotate === undefined ? undefined : () => annotate(call.request)
    // A span per write (`registry.Login`, ...), a child of the caller's span: the W3C trace context
    // of the call's metadata (`traceparent`), unless gRPC's instrumentation already made a server
    // span of it. Its etcd transactions (registry-metrics.ts) and a forward to the leader are its children.
    const parent = trace.getSpan(otelContext.active()) === undefined ? propagation.extract(otelContext.active(), call.metadata, METADATA_GETTER) : otelContext.active()
    const attributes = { 'rpc.system.name': 'grpc', 'rpc.method': rpc }
    trace.getTracer('@flexseat/registry').startActiveSpan(`registry.${rpc}`, { kind: SpanKind.SERVER, attributes }, parent, (span) => {
      authenticate(context, rpc, call)
        .then((caller) => {
          span.setAttribute('flexseat.caller.role', caller.role)
          return context.forwarder.execute(method, call.request, caller, incoming, () => run(call.request, caller, incoming), extra)
        })
        .then(
          (response) => {
            span.end()
            callback(null, response)
          },
          (error: unknown) => {
            const status = toGrpcStatus(error, context.logger)
            span.setStatus({ code: SpanStatusCode.ERROR, message: status.details ?? '' })
            span.setAttribute('rpc.grpc.status_code', status.code ?? 2)
            span.end()
            callback(status)
          },
        )
    })
  }
}

/** Reads W3C trace context keys (`traceparent`, `tracestate`) from gRPC metadata. */
const METADATA_GETTER: TextMapGetter<Metadata> = {
  keys: (metadata) => Object.keys(metadata.getMap()),
  get: (metadata, key) => {
    const values = metadata.get(key).filter((value): value is string => typeof value === 'string')
    return values.length === 0 ? undefined : values
  },
}

/**
 * A server stream fed by an async iterable. Cancellation by the client (or the server shutting
 * down) aborts the source; when the transport's buffer is full, the stream waits for 'drain'
 * before pulling the next message (backpressure reaches the core's watch).
 */
export function streamHandler<Req, Res>(
  context: ServiceContext,
  rpc: RpcName,
  open: (request: Req, caller: Caller, signal: AbortSignal) => AsyncIterable<Res>,
): handleServerStreamingCall<Req, Res> {
  return (call: ServerWritableStream<Req, Res>) => {
    authenticate(context, rpc, call).then(
      (caller) => serveStream(context, call, caller, open),
      (error: unknown) => call.emit('error', toGrpcStatus(error, context.logger)),
    )
  }
}

/**
 * Pumps `open`'s messages into `call` (see {@link streamHandler}). A stream a portal session
 * opened ends with SESSION_INVALID when the session expires.
 */
function serveStream<Req, Res>(context: ServiceContext, call: ServerWritableStream<Req, Res>, caller: Caller, open: (request: Req, caller: Caller, signal: AbortSignal) => AsyncIterable<Res>): void {
  const abort = new AbortController()
  const onCancel = (): void => abort.abort(new Error('stream cancelled'))
  const onClosing = (): void => {
    if (abort.signal.aborted) return
    abort.abort(new Error('server shutting down'))
    call.emit('error', toGrpcStatus(unavailable('the instance is shutting down; resume on another', 200), context.logger))
  }
  call.once('cancelled', onCancel)
  call.once('close', onCancel)
  context.closing.addEventListener('abort', onClosing, { once: true })
  if (context.closing.aborted) onClosing()
  const expiry = caller.session === undefined ? undefined : setTimeout(() => {
    if (abort.signal.aborted) return
    abort.abort(new Error('session expired'))
    call.emit('error', toGrpcStatus(new RegistryError(ErrorCode.ERROR_CODE_SESSION_INVALID, 'the session has expired'), context.logger))
  }, Math.max(0, Math.min(2 ** 31 - 1, Date.parse(caller.session.expiresAt) - Date.now())))
  expiry?.unref()
  const pump = async (): Promise<void> => {
    for await (const message of open(call.request, caller, abort.signal)) {
      if (abort.signal.aborted) return
      if (!call.write(message)) {
        await once(call, 'drain', { signal: abort.signal })
      }
    }
  }
  pump().then(
    () => {
      if (!abort.signal.aborted) call.end()
    },
    (error: unknown) => {
      if (abort.signal.aborted) return
      call.emit('error', toGrpcStatus(error, context.logger))
    },
  ).finally(() => {
    clearTimeout(expiry)
    call.off('cancelled', onCancel)
    call.off('close', onCancel)
    context.closing.removeEventListener('abort', onClosing)
    if (!abort.signal.aborted) abort.abort(new Error('stream ended'))
  })
}
