import { appendFileSync } from 'node:fs'
import type { tracing } from '@opentelemetry/sdk-node'

type ReadableSpan = tracing.ReadableSpan
type SpanExporter = tracing.SpanExporter

/**
 * FOR TESTS AND DEBUGGING ONLY: a span exporter that appends each finished span to `path` as one
 * JSON line (`{ name, service, traceId, spanId, parentSpanId, kind, links, attributes, start, end }`),
 * synchronously, so that a test reading the file after a response sees the spans of that request.
 * Selected by `FLEXSEAT_TEST_SPAN_FILE` (start-telemetry.ts); never use it in production: it
 * writes on the event loop and the file grows without bound.
 */
export class SpanFileExporter implements SpanExporter {
  readonly #path: string

  constructor(path: string) {
    this.#path = path
  }

  export(spans: ReadableSpan[], done: (result: { code: number }) => void): void {
    try {
      const lines = spans.map((span) => JSON.stringify(spanRecord(span))).join('\n')
      if (lines !== '') appendFileSync(this.#path, `${lines}\n`)
      done({ code: 0 })
    } catch {
      done({ code: 1 })
    }
  }

  async shutdown(): Promise<void> {}

  async forceFlush(): Promise<void> {}
}

/** A span as {@link SpanFileExporter} writes it. */
export interface SpanRecord {
  name: string
  service: string
  traceId: string
  spanId: string
  parentSpanId: string | undefined
  /** SpanKind as a number (0 internal, 1 server, 2 client, 3 producer, 4 consumer). */
  kind: number
  links: Array<{ traceId: string; spanId: string }>
  attributes: Record<string, unknown>
  /** Start and end in ms since the epoch. */
  start: number
  end: number
}

function spanRecord(span: ReadableSpan): SpanRecord {
  const context = span.spanContext()
  const ms = ([seconds, nanos]: [number, number]): number => seconds * 1_000 + nanos / 1e6
  return {
    name: span.name,
    service: String(span.resource.attributes['service.name'] ?? ''),
    traceId: context.traceId,
    spanId: context.spanId,
    parentSpanId: span.parentSpanContext?.spanId,
    kind: span.kind,
    links: span.links.map((link) => ({ traceId: link.context.traceId, spanId: link.context.spanId })),
    attributes: { ...span.attributes },
    start: ms(span.startTime),
    end: ms(span.endTime),
  }
}
