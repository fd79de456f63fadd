import type { CommandSpec } from './command'
import { CALLS_COMMANDS } from './calls'
import { CLUSTER_COMMANDS } from './cluster'
import { DEVICE_COMMANDS } from './device'
import { DIRECTORY_COMMANDS } from './directory'
import { LOGS_COMMANDS } from './logs'
import { PHONE_COMMANDS } from './phones'
import { POLICY_COMMANDS } from './policy'
import { PROFILE_COMMANDS } from './profile'
import { REPORT_COMMANDS } from './report'
import { SEAT_COMMANDS } from './seat'
import { SITE_COMMANDS } from './site'
import { USER_COMMANDS } from './user'
import { WATCH_COMMANDS } from './watch'

/** Every command of `flexseat`, in the order usage lists them. */
export const COMMANDS: readonly CommandSpec[] = [
  ...USER_COMMANDS,
  ...DEVICE_COMMANDS,
  ...PROFILE_COMMANDS,
  ...SITE_COMMANDS,
  ...SEAT_COMMANDS,
  ...POLICY_COMMANDS,
  ...PHONE_COMMANDS,
  ...CALLS_COMMANDS,
  ...REPORT_COMMANDS,
  ...WATCH_COMMANDS,
  ...CLUSTER_COMMANDS,
  ...DIRECTORY_COMMANDS,
  ...LOGS_COMMANDS,
]

export type { CommandContext, CommandSpec } from './command'
export { newRequestId } from './command'
