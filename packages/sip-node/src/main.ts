#!/usr/bin/env node
// flexseat-sip-node --site <id> [--sites-dir <dir>]: one branch's SIP node (see config.ts and
// packages/sip-node/README.md for the environment it reads). Logs pino JSON to stdout.
import { startTelemetry, traceLogFields } from '@flexseat/telemetry'

// First of all: telemetry must run before the modules it observes are loaded (hence the
// requires below, which run after this line; import statements would be hoisted above it).
const stopTelemetry = startTelemetry('flexseat-sip-node')

async function main(): Promise<void> {
  /* eslint-disable @typescript-eslint/no-require-imports */
  const { loadSipNodeConfig } = require('./config') as typeof import('./config')
  const { pino } = require('pino') as typeof import('pino')
  const { SipNode } = require('./sip-node') as typeof import('./sip-node')
  /* eslint-enable @typescript-eslint/no-require-imports */

  let config: Awaited<ReturnType<typeof loadSipNodeConfig>>
  try {
    config = await loadSipNodeConfig(process.argv.slice(2), process.env)
  } catch (error) {
    // Configuration errors name the option or file and field; they never contain a token or secret.
    process.stderr.write(`flexseat-sip-node: ${(error as Error).message}\n`)
    await stopTelemetry()
    process.exit(2)
  }
  const logger = pino({
    level: config.logLevel,
    // The trace and span id of the active span, if any (a sign-in's trace, for instance).
    mixin: traceLogFields,
    base: { service: 'flexseat-sip-node', site: config.site.id, nodeId: config.nodeId },
    // Belt and braces: no code path logs these (feature codes are logged masked), but a logged
    // object must never carry a PIN, a password equivalent or a secret.
    redact: {
      paths: ['pin', 'oldPin', 'newPin', '*.pin', '*.oldPin', '*.newPin', '*.ha1', '*.password', '*.token', '*.registryToken', '*.trunkSecret', '*.secret', '*.authorization', 'config.registryToken', 'config.trunkSecret', 'config.drachtio.secret'],
      censor: '[redacted]',
    },
  })
  stopTelemetry.metricsAddress.then(
    (address) => {
      if (address !== undefined) logger.info({ address }, 'metrics listening')
    },
    (error: unknown) => logger.error({ err: error }, 'metrics not served: FLEXSEAT_METRICS_LISTEN'),
  )
  logger.info(
    { registry: config.registryAddresses, tls: config.registryCa !== undefined, engine: `${config.drachtio.host}:${config.drachtio.port}`, domain: config.site.sip.domain, registration: config.registration },
    'sip node starting',
  )

  let node: Awaited<ReturnType<typeof SipNode.start>>
  try {
    node = await SipNode.start({ config, logger })
  } catch (error) {
    logger.fatal({ err: error }, 'sip node could not start')
    await stopTelemetry()
    process.exit(1)
  }

  let signalled = false
  const onSignal = (signal: NodeJS.Signals): void => {
    if (signalled) {
      logger.warn({ signal }, 'second signal: exiting at once')
      process.exit(1)
    }
    signalled = true
    logger.info({ signal }, 'sip node stopping: releasing the lease')
    node
      .stop(5_000)
      .then(() => stopTelemetry())
      .then(
        () => {
          logger.info('sip node stopped')
          process.exit(0)
        },
        (error: unknown) => {
          logger.error({ err: error }, 'sip node did not stop cleanly')
          process.exit(1)
        },
      )
  }
  process.on('SIGTERM', onSignal)
  process.on('SIGINT', onSignal)
}

main().catch((error: unknown) => {
  process.stderr.write(`flexseat-sip-node: ${(error as Error)?.stack ?? String(error)}\n`)
  process.exit(1)
})
