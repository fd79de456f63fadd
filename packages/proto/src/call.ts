import {
  type CallOptions,
  type ClientReadableStream,
  type ClientUnaryCall,
  Metadata,
  type ServiceError,
} from '@grpc/grpc-js'

/** Options of one call made through {@link unary} or {@link serverStream}. */
export interface CallSettings {
  /** Give up after this many milliseconds (default 10 000; 0 or Infinity: no deadline). */
  timeoutMs?: number
  /** Cancels the call; the promise rejects with the signal's reason. */
  signal?: AbortSignal
  /** Request metadata, e.g. the authorization header. */
  metadata?: Metadata
}

/** The callback form ts-proto generates for a unary method of a grpc-js client. */
export type UnaryMethod<Req, Res> = (
  request: Req,
  metadata: Metadata,
  options: Partial<CallOptions>,
  callback: (error: ServiceError | null, response: Res) => void,
) => ClientUnaryCall

/** The form ts-proto generates for a server-streaming method of a grpc-js client. */
export type StreamMethod<Req, Res> = (
  request: Req,
  metadata?: Metadata,
  options?: Partial<CallOptions>,
) => ClientReadableStream<Res>

/** Default deadline of a unary call, in milliseconds. */
export const DEFAULT_TIMEOUT_MS = 10_000

function callOptions(settings: CallSettings): Partial<CallOptions> {
  const timeoutMs = settings.timeoutMs ?? DEFAULT_TIMEOUT_MS
  return timeoutMs > 0 && Number.isFinite(timeoutMs) ? { deadline: Date.now() + timeoutMs } : {}
}

/**
 * Calls a unary method of a generated client and returns a promise of the response, with a
 * deadline and cancellation by AbortSignal. Pass the method bound to its client:
 * `unary(client.login.bind(client), request, { timeoutMs: 2000 })`.
 */
export function unary<Req, Res>(
  method: UnaryMethod<Req, Res>,
  request: Req,
  settings: CallSettings = {},
): Promise<Res> {
  const { signal } = settings
  if (signal?.aborted) return Promise.reject(signal.reason)
  return new Promise<Res>((resolve, reject) => {
    const onAbort = (): void => {
      call.cancel()
      reject(signal?.reason)
    }
    const call = method(request, settings.metadata ?? new Metadata(), callOptions(settings), (error, response) => {
      signal?.removeEventListener('abort', onAbort)
      if (error) reject(error)
      else resolve(response)
    })
    signal?.addEventListener('abort', onAbort, { once: true })
  })
}

/**
 * Opens a server stream as an async iterable. There is no deadline unless timeoutMs is given;
 * aborting the signal cancels the call and ends the iteration with the signal's reason.
 */
export async function* serverStream<Req, Res>(
  method: StreamMethod<Req, Res>,
  request: Req,
  settings: CallSettings = {},
): AsyncGenerator<Res, void, undefined> {
  const { signal } = settings
  signal?.throwIfAborted()
  const options = settings.timeoutMs === undefined ? {} : callOptions(settings)
  const call = method(request, settings.metadata ?? new Metadata(), options)
  const onAbort = (): void => {
    call.cancel()
  }
  signal?.addEventListener('abort', onAbort, { once: true })
  try {
    for await (const message of call as AsyncIterable<Res>) yield message
    signal?.throwIfAborted()
  } catch (error) {
    signal?.throwIfAborted()
    throw error
  } finally {
    signal?.removeEventListener('abort', onAbort)
    call.cancel()
  }
}

/** Metadata carrying a bearer token in the `authorization` header. */
export function bearer(token: string): Metadata {
  const metadata = new Metadata()
  metadata.set('authorization', `Bearer ${token}`)
  return metadata
}
