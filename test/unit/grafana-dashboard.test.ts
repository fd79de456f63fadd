// The Grafana dashboard (deploy/observability/grafana/dashboards/flexseat.json) queries only
// metrics the services export: every `flexseat_*` name in a PromQL expression is in the metric
// catalogue (packages/telemetry/src/metric-catalogue.ts; test/integration/metrics-scrape.test.ts
// checks the catalogue against scrapes of running services), a histogram only through its
// `_bucket`, `_sum` or `_count` series, and every label it selects or groups by is one of the
// metric's. And it shows what the issue asks for: sign-ins, revocation latency, the branches.
import t from 'tap'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { catalogued, METRIC_CATALOGUE, type MetricName } from '@flexseat/telemetry'

const DASHBOARD = join(__dirname, '..', '..', 'deploy', 'observability', 'grafana', 'dashboards', 'flexseat.json')

/** Every `expr` (Prometheus targets) and templating `query` string anywhere in the dashboard. */
function expressions(node: unknown, found: string[] = []): string[] {
  if (Array.isArray(node)) for (const item of node) expressions(item, found)
  else if (node !== null && typeof node === 'object') {
    for (const [key, value] of Object.entries(node)) {
      if ((key === 'expr' || key === 'query') && typeof value === 'string') found.push(value)
      else if (key === 'query' && value !== null && typeof value === 'object' && typeof (value as { query?: unknown }).query === 'string') found.push((value as { query: string }).query)
      else expressions(value, found)
    }
  }
  return found
}

/** The problems of one PromQL expression against the catalogue (empty: none). */
function problems(expr: string): string[] {
  const found: string[] = []
  const metrics: MetricName[] = []
  // Metric names outside the grouping clauses (whose label names look alike); a selector's labels
  // are consumed with its metric's name.
  const grouping = /\b(?:by|without)\s*\(([^)]*)\)/g
  for (const match of expr.replace(grouping, '').matchAll(/\b(flexseat_[a-z0-9_]+)(\{[^}]*\})?/g)) {
    const series = match[1]!
    const metric = catalogued(series)
    if (metric === undefined) {
      found.push(`${series} is not a metric the services export`)
      continue
    }
    if (METRIC_CATALOGUE[metric].type === 'histogram' && series === metric) found.push(`${series} is a histogram: query its _bucket, _sum or _count`)
    metrics.push(metric)
    const allowed: readonly string[] = METRIC_CATALOGUE[metric].labels
    for (const [, label] of (match[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)/g)) {
      if (!allowed.includes(label!)) found.push(`${series} has no label ${label}`)
    }
  }
  const labels = new Set(metrics.flatMap((metric) => [...METRIC_CATALOGUE[metric].labels, ...(METRIC_CATALOGUE[metric].type === 'histogram' ? ['le'] : [])]))
  for (const [, list] of expr.matchAll(grouping)) {
    for (const label of list!.split(',').map((l) => l.trim()).filter((l) => l !== '')) {
      if (!labels.has(label)) found.push(`grouped by ${label}, a label of none of ${metrics.join(', ') || '(no flexseat metric)'}`)
    }
  }
  return found
}

const dashboard = JSON.parse(readFileSync(DASHBOARD, 'utf8')) as { panels: { title: string; targets?: { expr?: string }[] }[] }
const exprs = expressions(dashboard)

t.test('every expression of the dashboard queries exported metrics and their labels', async (t) => {
  t.ok(exprs.length >= 8, `the dashboard has its queries (${exprs.length})`)
  for (const expr of exprs) t.same(problems(expr), [], expr)
})

t.test('the checker itself: unknown names, histograms without a suffix, unknown labels', async (t) => {
  t.same(problems('sum(rate(flexseat_sign_ins_total[1m]))'), [])
  t.match(problems('sum(rate(flexseat_signins_total[1m]))'), [/flexseat_signins_total is not a metric/])
  t.match(problems('rate(flexseat_revocation_duration[5m])'), [/is a histogram/])
  t.match(problems('sum by (flexseat_branch) (flexseat_phones_registered)'), [/grouped by flexseat_branch/])
  t.match(problems('flexseat_sign_ins_total{flexseat_method="phone"}'), [/has no label flexseat_method/])
  t.same(problems('histogram_quantile(0.99, sum by (le, flexseat_stage) (rate(flexseat_revocation_duration_bucket[5m])))'), [])
})

t.test('it shows sign-ins, revocation latency and the branches', async (t) => {
  const all = exprs.join('\n')
  t.match(all, /flexseat_sign_ins_total/, 'sign-ins')
  t.match(all, /flexseat_revocation_duration_bucket/, 'revocation latency')
  t.match(all, /flexseat_confirmation_lease_active/, 'each branch\'s confirmation lease')
  t.match(all, /flexseat_pin_lockouts_total/, 'lockouts')
})
