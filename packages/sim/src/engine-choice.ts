import { accessSync, constants } from 'node:fs'
import { delimiter, join } from 'node:path'
import { SimError } from './errors'

/**
 * The SIP engines a site can run: `embedded` (packages/sip-engine, the default) or
 * `drachtio-server` (the production engine of docker-compose.yml, a binary on this machine).
 */
export const ENGINE_NAMES = ['embedded', 'drachtio-server'] as const
export type EngineName = (typeof ENGINE_NAMES)[number]

/** The engine every site of a simulation runs, with the binary for drachtio-server. */
export type EngineChoice = { name: 'embedded' } | { name: 'drachtio-server'; bin: string }

function executable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK)
    return true
  } catch {
    return false
  }
}

/**
 * Where drachtio-server is on this machine, or undefined: `DRACHTIO_SERVER_BIN` when set (it must
 * be executable), else `drachtio` on the PATH, else `../shared/drachtio/drachtio` beside the
 * repository (the build the project's test machines carry, with its configuration file).
 */
export function findDrachtioServer(repoRoot: string, env: Readonly<NodeJS.ProcessEnv> = process.env): string | undefined {
  const named = env.DRACHTIO_SERVER_BIN
  if (named !== undefined && named !== '') return executable(named) ? named : undefined
  for (const dir of (env.PATH ?? '').split(delimiter)) {
    if (dir !== '' && executable(join(dir, 'drachtio'))) return join(dir, 'drachtio')
  }
  const shared = join(repoRoot, '..', 'shared', 'drachtio', 'drachtio')
  return executable(shared) ? shared : undefined
}

/**
 * The engine named by `--engine` (default `embedded`). `drachtio-server` needs its binary
 * ({@link findDrachtioServer}); a missing one or an unknown name is a `BAD_OPTION`.
 */
export function chooseEngine(name: string | undefined, repoRoot: string, env: Readonly<NodeJS.ProcessEnv> = process.env): EngineChoice {
  if (name === undefined || name === 'embedded') return { name: 'embedded' }
  if (name !== 'drachtio-server') throw new SimError('BAD_OPTION', `--engine: "${name}" is not one of ${ENGINE_NAMES.join(', ')}`)
  const bin = findDrachtioServer(repoRoot, env)
  if (bin === undefined) {
    const named = env.DRACHTIO_SERVER_BIN
    throw new SimError(
      'BAD_OPTION',
      named !== undefined && named !== ''
        ? `--engine drachtio-server: DRACHTIO_SERVER_BIN=${named} is not an executable file`
        : '--engine drachtio-server: no drachtio-server found (set DRACHTIO_SERVER_BIN, or put `drachtio` on the PATH)',
    )
  }
  return { name: 'drachtio-server', bin }
}
