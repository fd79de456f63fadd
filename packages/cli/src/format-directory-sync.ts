import {
  type DirectoryChange,
  DirectoryChangeKind,
  type DirectoryConflict,
  DirectorySyncMode,
  type DirectorySyncRun,
  DirectorySyncState,
  directoryChangeKindToJSON,
  directorySyncStateToJSON,
  type GetDirectorySyncStatusResponse,
} from '@flexseat/proto'
import { formatFields, formatTable, formatTime } from './format-table'

/** "create", "update", "disable", "delete". */
export function changeWord(kind: DirectoryChangeKind): string {
  return directoryChangeKindToJSON(kind).replace(/^DIRECTORY_CHANGE_KIND_/, '').toLowerCase()
}

function stateWord(state: DirectorySyncState): string {
  return directorySyncStateToJSON(state).replace(/^DIRECTORY_SYNC_STATE_/, '').toLowerCase()
}

function modeWord(mode: DirectorySyncMode): string {
  return mode === DirectorySyncMode.DIRECTORY_SYNC_MODE_INCREMENTAL ? 'incremental' : 'full'
}

/** One line: "full sync, succeeded, 2026-11-22T03:20:00Z to …, by amsterdam-1a2b (run 3f2a…)". */
export function describeRun(run: DirectorySyncRun): string {
  const when = run.finishedAt === undefined ? `since ${formatTime(run.startedAt)}` : `${formatTime(run.startedAt)} to ${formatTime(run.finishedAt)}`
  return `${modeWord(run.mode)}${run.dryRun ? ' dry run' : ' sync'}, ${stateWord(run.state)}, ${when}, by ${run.instanceId || '-'} (run ${run.runId})`
}

/** A run: what it was, its counts, its error, its conflicts. */
export function formatRun(run: DirectorySyncRun): string {
  const lines = [
    formatFields([
      ['run', describeRun(run)],
      ['entries read', String(run.entries)],
      ['created', String(run.created)],
      ['updated', String(run.updated)],
      ['disabled', String(run.disabled)],
      ['deleted', String(run.deleted)],
      ['unchanged', String(run.unchanged)],
      ['seats released', String(run.seatsReleased)],
      ['conflicts', String(run.conflictCount)],
      ['error', run.error === '' ? undefined : run.error],
    ]),
  ]
  if (run.conflicts.length > 0) {
    lines.push('\n', formatConflicts(run.conflicts))
    if (run.conflictCount > run.conflicts.length) lines.push(`(${run.conflictCount - run.conflicts.length} more conflicts not listed)\n`)
  }
  return lines.join('')
}

/** Conflicts as a table. */
export function formatConflicts(conflicts: readonly DirectoryConflict[]): string {
  return formatTable(
    ['CONFLICT: USERNAME', 'EXTENSION', 'USER', 'REASON'],
    conflicts.map((c) => [c.username || c.dn || c.directoryKey || '-', c.extension || '-', c.userId || '-', c.reason]),
  )
}

/** Changes as a table, one line per change with its reasons. */
export function formatChanges(changes: readonly DirectoryChange[]): string {
  if (changes.length === 0) return 'no changes\n'
  return formatTable(
    ['CHANGE', 'USER', 'EXTENSION', 'REASONS'],
    changes.map((c) => [changeWord(c.kind), c.userId, c.user?.extension || c.previousExtension || '-', c.reasons.join('; ')]),
  )
}

/** The status: the run under way, the last run, the last full run. */
export function formatSyncStatus(status: GetDirectorySyncStatusResponse): string {
  if (status.current === undefined && status.last === undefined) return 'no directory sync has run (is FLEXSEAT_DIRECTORY_SYNC_FILE set on the registries?)\n'
  const parts: string[] = []
  if (status.current !== undefined) parts.push(`under way  ${describeRun(status.current)}\n`)
  if (status.last !== undefined) parts.push(`last run\n${formatRun(status.last)}`)
  if (status.lastFull !== undefined && status.lastFull.runId !== status.last?.runId) parts.push(`last full sync\n${formatRun(status.lastFull)}`)
  return parts.join('\n')
}
