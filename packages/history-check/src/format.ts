/** The text form of a check report (the CLI prints it; the chaos report may embed it). */
import type { CheckReport } from './history'

/** A check report as text: per checker what it examined and found, then each violation. */
export function formatReport(report: CheckReport): string {
  const lines: string[] = []
  const names = [...new Set([...Object.keys(report.checked), ...report.violations.map((v) => v.checker)])]
  for (const name of names) {
    const found = report.violations.filter((v) => v.checker === name).length
    const unknown = (report.unknown ?? []).filter((u) => u.checker === name).length
    const verdict = found > 0 ? `${found} violation(s)` : unknown > 0 ? 'UNKNOWN' : (report.checked[name] ?? 0) === 0 ? 'nothing to check' : 'ok'
    lines.push(`${name.padEnd(22)} checked ${String(report.checked[name] ?? 0).padStart(7)}  ${verdict}`)
  }
  for (const u of report.unknown ?? []) lines.push(`unknown   ${u.checker}: ${u.message}`)
  for (const v of report.violations) lines.push(`VIOLATION ${v.checker}: ${v.message}${v.ops && v.ops.length > 0 ? ` [ops: ${v.ops.join(', ')}]` : ''}`)
  return lines.join('\n') + '\n'
}
