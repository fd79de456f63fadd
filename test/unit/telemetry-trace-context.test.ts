// packages/telemetry's trace helpers on a real OTel tracer provider: the pino mixin's trace ids,
// traceparent out and back in (the trunk's header), and the test/debug span file.
import t from 'tap'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { context, propagation, ROOT_CONTEXT, SpanKind, trace } from '@opentelemetry/api'
import { core, node, tracing } from '@opentelemetry/sdk-node'
import { contextFromHeaders, inSpan, type SpanRecord, traceHeaders, traceLogFields } from '@flexseat/telemetry'
import { SpanFileExporter } from '../../packages/telemetry/src/span-file'

t.test('trace ids in logs, traceparent round trip, spans in the file', async (t) => {
  const file = join(t.testdir({}), 'spans.jsonl')
  const provider = new node.NodeTracerProvider({ spanProcessors: [new tracing.SimpleSpanProcessor(new SpanFileExporter(file))] })
  provider.register({ propagator: new core.W3CTraceContextPropagator() })
  t.teardown(async () => {
    await provider.shutdown()
    trace.disable()
    propagation.disable()
    context.disable()
  })

  t.same(traceLogFields(), {}, 'no span active: no trace fields')
  t.same(traceHeaders(ROOT_CONTEXT), {}, 'no span: no traceparent')

  let headers: Record<string, string> = {}
  let outer = { traceId: '', spanId: '' }
  await inSpan('test', 'outer', { kind: SpanKind.SERVER }, async (span) => {
    outer = span.spanContext()
    const fields = traceLogFields()
    t.equal(fields['trace_id'], outer.traceId, 'the mixin gives the active trace id')
    t.equal(fields['span_id'], outer.spanId, 'and span id')
    headers = traceHeaders()
    t.match(headers['traceparent'], new RegExp(`^00-${outer.traceId}-${outer.spanId}-01$`), 'traceparent names the active span')
  }, ROOT_CONTEXT)

  const remote = contextFromHeaders((name) => headers[name], ROOT_CONTEXT)
  await inSpan('test', 'continued', { kind: SpanKind.SERVER }, async () => {}, remote)
  await t.rejects(inSpan('test', 'failing', {}, async () => Promise.reject(new Error('boom'))), /boom/, 'an error is rethrown')

  const spans = readFileSync(file, 'utf8').trim().split('\n').map((line) => JSON.parse(line) as SpanRecord)
  t.same(spans.map((s) => s.name), ['outer', 'continued', 'failing'], 'each finished span is a line')
  const continued = spans[1]!
  t.equal(continued.traceId, outer.traceId, 'the header carries the trace')
  t.equal(continued.parentSpanId, outer.spanId, 'and the parent')
  t.equal(spans[0]!.parentSpanId, undefined, 'outer is a root')
  t.ok(spans[0]!.end >= spans[0]!.start, 'start and end in ms')
})
