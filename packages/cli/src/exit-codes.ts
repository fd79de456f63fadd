/**
 * The exit status of the `flexseat` command. Scripts branch on these, so they never change
 * meaning: 0 success, 1 the registry refused the request (a domain error: wrong PIN, unknown
 * extension, bad field...), 2 the command line was wrong, 3 the registry could not be reached or
 * did not answer in time, 4 authentication or permission failed, 130 interrupted (SIGINT).
 */
export const ExitCode = {
  Ok: 0,
  Refused: 1,
  Usage: 2,
  Unavailable: 3,
  Auth: 4,
  Interrupted: 130,
} as const

/** One of the values of {@link ExitCode}. */
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode]
