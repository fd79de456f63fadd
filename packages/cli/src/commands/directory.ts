import { setTimeout as delay } from 'node:timers/promises'
import {
  DirectorySyncMode,
  type DirectorySyncRun,
  DirectorySyncState,
  GetDirectorySyncStatusResponse,
  SyncDirectoryResponse,
} from '@flexseat/proto'
import { ExitCode } from '../exit-codes'
import { describeRun, formatChanges, formatConflicts, formatRun, formatSyncStatus } from '../format-directory-sync'
import { type CommandContext, type CommandSpec, newRequestId } from './command'

/** A dry run's deadline unless --timeout is given: it reads the whole directory before it answers. */
const DRY_RUN_TIMEOUT_MS = 120_000
/** How often `directory sync` looks at the status while its run goes on. */
const POLL_MS = 500

const sync: CommandSpec = {
  path: ['directory', 'sync'],
  synopsis: '[--dry-run] [--incremental]',
  summary: 'sync the users with the company directory now (on the registry leader)',
  details:
    'With --dry-run nothing is written: prints every change the sync would apply, with its reasons,\n' +
    'and every entry it would skip (a conflict). Otherwise runs a sync (full unless --incremental),\n' +
    'waits for it and prints its counts and conflicts. Exit 1 when the run failed.\n' +
    `A dry run waits up to ${DRY_RUN_TIMEOUT_MS / 1000} s unless --timeout is given (a call through a follower gets at most 10 s).`,
  options: ['dry-run', 'incremental'],
  async run(context) {
    const { input } = context
    const dryRun = input.flag('dry-run')
    const request = {
      requestId: newRequestId(),
      dryRun,
      mode: input.flag('incremental') ? DirectorySyncMode.DIRECTORY_SYNC_MODE_INCREMENTAL : DirectorySyncMode.DIRECTORY_SYNC_MODE_FULL,
    }
    const client = context.client()
    const d = client.directorySync
    const timeoutMs = dryRun && !input.has('timeout') ? DRY_RUN_TIMEOUT_MS : client.timeoutMs
    const response = await client.call(d.syncDirectory.bind(d), request, context.signal, timeoutMs)
    let run = response.run
    if (run !== undefined && run.state === DirectorySyncState.DIRECTORY_SYNC_STATE_RUNNING) run = await untilEnded(context, run)
    if (context.json) {
      context.printJson(SyncDirectoryResponse.toJSON({ ...response, run }))
    } else if (run !== undefined) {
      if (dryRun) {
        context.print(formatChanges(response.changes))
        if (run.conflicts.length > 0) context.print(`\n${formatConflicts(run.conflicts)}`)
        context.print(`\n${formatRun({ ...run, conflicts: [] })}`)
      } else {
        context.print(formatRun(run))
      }
    }
    return run?.state === DirectorySyncState.DIRECTORY_SYNC_STATE_SUCCEEDED ? ExitCode.Ok : ExitCode.Refused
  },
}

/**
 * Follows a run through the status until it has ended. When the leader changed meanwhile (the run
 * was aborted, and the new leader syncs in full), follows the new leader's run instead and says so.
 */
async function untilEnded(context: CommandContext, started: DirectorySyncRun): Promise<DirectorySyncRun> {
  const client = context.client()
  const d = client.directorySync
  let following = started
  for (;;) {
    const status = await client.call(d.getDirectorySyncStatus.bind(d), {}, context.signal)
    const ended = [status.last, status.lastFull].find((run) => run !== undefined && run.runId === following.runId)
    if (ended !== undefined) return ended
    const current = status.current
    if (current !== undefined && current.runId !== following.runId && current.instanceId !== following.instanceId) {
      context.notice(`run ${following.runId} ended without a result (the leader changed?); following ${describeRun(current)}`)
      following = current
    }
    await delay(POLL_MS, undefined, { signal: context.signal })
  }
}

const status: CommandSpec = {
  path: ['directory', 'status'],
  synopsis: '',
  summary: 'the directory sync under way, the last run and the last full run: counts and conflicts',
  options: [],
  async run(context) {
    const client = context.client()
    const d = client.directorySync
    const response = await client.call(d.getDirectorySyncStatus.bind(d), {}, context.signal)
    if (context.json) context.printJson(GetDirectorySyncStatusResponse.toJSON(response))
    else context.print(formatSyncStatus(response))
  },
}

/** The `directory` commands. */
export const DIRECTORY_COMMANDS: readonly CommandSpec[] = [sync, status]
