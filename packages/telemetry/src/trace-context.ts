import { context, propagation, type Span, SpanStatusCode, trace, type Context, type SpanOptions } from '@opentelemetry/api'

/**
 * A pino `mixin`: the trace and span id of the span active where a line is logged (`trace_id`,
 * `span_id`), nothing when none is (or when no tracer provider is registered: then no span is
 * ever active).
 */
export function traceLogFields(): Record<string, string> {
  const span = trace.getSpan(context.active())
  if (span === undefined) return {}
  const { traceId, spanId, traceFlags } = span.spanContext()
  if (!trace.isSpanContextValid(span.spanContext())) return {}
  return { trace_id: traceId, span_id: spanId, trace_flags: `0${traceFlags.toString(16)}`.slice(-2) }
}

/**
 * Runs `work` in a new active span of `tracer` named `name` (a child of `parent`, default the
 * active context), ending it when `work` settles; an exception is recorded on the span and
 * rethrown. Without a registered tracer provider the span is a no-op and costs next to nothing.
 */
export async function inSpan<T>(tracerName: string, name: string, options: SpanOptions, work: (span: Span) => Promise<T>, parent: Context = context.active()): Promise<T> {
  return trace.getTracer(tracerName).startActiveSpan(name, options, parent, async (span) => {
    try {
      return await work(span)
    } catch (error) {
      span.recordException(error as Error)
      span.setStatus({ code: SpanStatusCode.ERROR, message: (error as Error)?.message })
      throw error
    } finally {
      span.end()
    }
  })
}

/**
 * The W3C trace context (`traceparent`, and `tracestate` when there is one) of `ctx` (default:
 * the active context), through the registered propagator; an empty object when nothing is traced.
 */
export function traceHeaders(ctx: Context = context.active()): Record<string, string> {
  const carrier: Record<string, string> = {}
  propagation.inject(ctx, carrier)
  return carrier
}

/** The context carried by headers read through `get` (e.g. a SIP request's `traceparent`). */
export function contextFromHeaders(get: (name: string) => string | undefined, base: Context = context.active()): Context {
  return propagation.extract(base, {}, {
    keys: () => ['traceparent', 'tracestate'],
    get: (_carrier, key) => get(key),
  })
}
