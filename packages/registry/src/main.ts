#!/usr/bin/env node
// flexseat-registry --site <id> [--sites-dir <dir>]: one seat registry instance (see config.ts
// for the environment it reads). Logs pino JSON to stdout.
import { startTelemetry, traceLogFields } from '@flexseat/telemetry'

// First of all: telemetry must run before the modules it observes are loaded (hence the
// requires below, which run after this line; import statements would be hoisted above it).
const stopTelemetry = startTelemetry('flexseat-registry')

async function main(): Promise<void> {
  /* eslint-disable @typescript-eslint/no-require-imports */
  const { readFile } = require('node:fs/promises') as typeof import('node:fs/promises')
  const { join } = require('node:path') as typeof import('node:path')
  const { loadRegistryConfig, RegistryConfigError } = require('./config') as typeof import('./config')
  const { pino } = require('pino') as typeof import('pino')
  const { RegistryProcess } = require('./registry-process') as typeof import('./registry-process')
  /* eslint-enable @typescript-eslint/no-require-imports */

  let config: Awaited<ReturnType<typeof loadRegistryConfig>>
  try {
    config = await loadRegistryConfig(process.argv.slice(2), process.env)
  } catch (error) {
    // Configuration errors name the option or file and field; they never contain a token.
    process.stderr.write(`flexseat-registry: ${(error as Error).message}\n`)
    await stopTelemetry()
    process.exit(2)
  }
  const logger = pino({
    level: config.logLevel,
    // The trace and span id of the active span, if any (a sign-in's trace, for instance).
    mixin: traceLogFields,
    base: { service: 'flexseat-registry', site: config.site.id, pid: process.pid },
    // Belt and braces: no code path logs these, but a logged object must never carry them.
    redact: { paths: ['*.pin', '*.oldPin', '*.newPin', '*.token', '*.authorization', '*.clusterToken', 'config.tokens'], censor: '[redacted]' },
  })
  stopTelemetry.metricsAddress.then(
    (address) => {
      if (address !== undefined) logger.info({ address }, 'metrics listening')
    },
    (error: unknown) => logger.error({ err: error }, 'metrics not served: FLEXSEAT_METRICS_LISTEN'),
  )
  const { version } = JSON.parse(await readFile(join(__dirname, '..', 'package.json'), 'utf8')) as { version: string }
  logger.info({ etcd: config.etcdEndpoints, prefix: config.etcdPrefix, listen: config.listen, tls: config.tls !== undefined, tokens: config.tokens.length, directorySync: config.directorySync?.ldap.url ?? false, version }, 'registry starting')

  let registry: Awaited<ReturnType<typeof RegistryProcess.start>>
  try {
    registry = await RegistryProcess.start({ config, logger, version })
  } catch (error) {
    logger.fatal({ err: error }, 'registry could not start')
    await stopTelemetry()
    // A setting the cluster contradicts (FLEXSEAT_ETCD_MAX_TXN_OPS) is a configuration error too.
    process.exit(error instanceof RegistryConfigError ? 2 : 1)
  }

  let signalled = false
  const onSignal = (signal: NodeJS.Signals): void => {
    if (signalled) {
      logger.warn({ signal }, 'second signal: exiting at once')
      process.exit(1)
    }
    signalled = true
    logger.info({ signal }, 'registry stopping: resigning and draining')
    registry
      .shutdown(5_000)
      .then(() => stopTelemetry())
      .then(
        () => {
          logger.info('registry stopped')
          process.exit(0)
        },
        (error: unknown) => {
          logger.error({ err: error }, 'registry did not stop cleanly')
          process.exit(1)
        },
      )
  }
  process.on('SIGTERM', onSignal)
  process.on('SIGINT', onSignal)
}

main().catch((error: unknown) => {
  process.stderr.write(`flexseat-registry: ${(error as Error)?.stack ?? String(error)}\n`)
  process.exit(1)
})
