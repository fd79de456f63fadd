// The library behind the `flexseat` command (main.ts), exported for tests and for tools that
// want the same parsing, formatting and client behaviour.

export { CommandInput, GLOBAL_OPTIONS, OPTIONS, parseArgv } from './args'
export type { OptionName, OptionSpec, ParsedArgs } from './args'
export { connectionSettings, findCommand, resolveCommand, run } from './cli'
export type { CliIo } from './cli'
export { DEFAULT_CALL_TIMEOUT_MS, DEFAULT_REGISTRY, grpcTarget, isRetryable, RegistryClient, TRANSPORT_ATTEMPTS } from './client'
export type { ConnectionOptions, TlsFiles } from './client'
export { COMMANDS, newRequestId } from './commands/index'
export type { CommandContext, CommandSpec } from './commands/index'
export {
  CliError,
  describeFailure,
  ERROR_DETAIL_KEY,
  errorDetailOf,
  exitCodeOf,
  isServiceError,
  messageOf,
  UsageError,
} from './errors'
export type { Failure, FailureContext, ServiceErrorLike } from './errors'
export { ExitCode } from './exit-codes'
export {
  describeBranch,
  describeSeat,
  formatBindings,
  formatClusterStatus,
  formatDevice,
  formatDevices,
  formatSeatChanges,
  formatSeatEvent,
  formatSeats,
  formatSeatSnapshot,
  formatSite,
  formatSites,
  formatUser,
  formatUsers,
  reasonWord,
  sourceWord,
  viaWord,
} from './format-records'
export { formatOccupancy, occupancyCsv } from './commands/report'
export { changeWord, describeRun, formatChanges, formatConflicts, formatRun, formatSyncStatus } from './format-directory-sync'
export { formatFields, formatTable, formatTime } from './format-table'
export type { Align, Column } from './format-table'
export { readLines, readPins } from './pin-input'
export type { PinPrompt, PinSource } from './pin-input'
export { resumingWatch, watchRetryable } from './resuming-watch'
export type { OpenWatch, ResumingWatchOptions } from './resuming-watch'
export { backoffDelay, DEFAULT_RETRY, retrying } from './retry'
export type { RetryOptions, RetryPolicy } from './retry'
export { commandUsage, groupUsage, topUsage } from './usage'
