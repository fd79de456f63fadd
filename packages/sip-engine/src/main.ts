#!/usr/bin/env -S node --max-semi-space-size=1
/**
 * Command-line entry: accepts drachtio-server's flags (`--contact`, `--address`, `--port`,
 * `--secret`, `--loglevel`) and its `DRACHTIO_SECRET` environment variable, and runs a {@link SipEngine}. Once listening it prints one JSON line
 * on stdout: `{"event":"listening","control":{"address","port"},"sip":[{transport,address,port}...]}`
 * (so tests can use port 0). Logs go to stderr. SIGINT/SIGTERM stop it gracefully.
 *
 * The `#!` line gives Node the V8 flags every starter of the engine uses (a 1 MiB young
 * generation, memory-saving heap growth: `EMBEDDED_ENGINE_NODE_FLAGS` of @flexseat/sim, which
 * a unit test holds equal to it).
 */
import { startTelemetry } from '@flexseat/telemetry';

// First of all: telemetry must run before the modules it observes are loaded (hence the
// requires below, which run after this line; import statements would be hoisted above it).
const stopTelemetry = startTelemetry('flexseat-sip-engine');

async function main(): Promise<void> {
  /* eslint-disable @typescript-eslint/no-require-imports */
  const { default: pino } = require('pino') as typeof import('pino');
  const { parseCommandLine } = require('./config') as typeof import('./config');
  const { SipEngine } = require('./engine') as typeof import('./engine');
  const { SipEngineError } = require('./errors') as typeof import('./errors');
  const { observeEngine } = require('./engine-metrics') as typeof import('./engine-metrics');
  /* eslint-enable @typescript-eslint/no-require-imports */
  let cl;
  try {
    cl = parseCommandLine(process.argv.slice(2), process.env);
  } catch (err) {
    process.stderr.write(`${err instanceof SipEngineError ? err.message : String(err)}\n`);
    await stopTelemetry();
    process.exit(2);
  }
  const logger = pino({ level: cl.logLevel, base: { service: 'sip-engine' } }, pino.destination(2));
  // Last line of defence: no input from the network or an application may end the process (the
  // engine never lets send paths throw; this catches whatever a future bug lets through).
  process.on('unhandledRejection', (err) => logger.error({ err }, 'unhandled rejection (engine keeps running)'));
  stopTelemetry.metricsAddress.then(
    (address) => {
      if (address !== undefined) logger.info({ address }, 'metrics listening');
    },
    (error: unknown) => logger.error({ err: error }, 'metrics not served: FLEXSEAT_METRICS_LISTEN'),
  );
  process.on('uncaughtException', (err) => logger.error({ err }, 'uncaught exception (engine keeps running)'));
  const engine = await SipEngine.create({ ...cl.config, logger });
  observeEngine(engine);
  process.stdout.write(
    `${JSON.stringify({ event: 'listening', control: { address: cl.config.controlAddress, port: engine.controlPort }, sip: engine.sipAddresses })}\n`,
  );
  const shutdown = (signal: string): void => {
    logger.info({ signal }, 'stopping');
    void engine
      .stop(3000)
      .then(() => stopTelemetry())
      .then(() => process.exit(0));
  };
  process.once('SIGINT', () => shutdown('SIGINT'));
  process.once('SIGTERM', () => shutdown('SIGTERM'));
}

main().catch((err: unknown) => {
  process.stderr.write(`sip engine failed: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
