#!/usr/bin/env node
/**
 * Command-line entry: accepts drachtio-server's flags (`--contact`, `--address`, `--port`,
 * `--secret`, `--loglevel`) and runs a {@link SipEngine}. Once listening it prints one JSON line
 * on stdout: `{"event":"listening","control":{"address","port"},"sip":[{transport,address,port}...]}`
 * (so tests can use port 0). Logs go to stderr. SIGINT/SIGTERM stop it gracefully.
 */
import pino from 'pino';
import { parseCommandLine } from './config';
import { SipEngine } from './engine';
import { SipEngineError } from './errors';

async function main(): Promise<void> {
  let cl;
  try {
    cl = parseCommandLine(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`${err instanceof SipEngineError ? err.message : String(err)}\n`);
    process.exit(2);
  }
  const logger = pino({ level: cl.logLevel, base: { service: 'sip-engine' } }, pino.destination(2));
  const engine = await SipEngine.create({ ...cl.config, logger });
  process.stdout.write(
    `${JSON.stringify({ event: 'listening', control: { address: cl.config.controlAddress, port: engine.controlPort }, sip: engine.sipAddresses })}\n`,
  );
  const shutdown = (signal: string): void => {
    logger.info({ signal }, 'stopping');
    void engine.stop(3000).then(() => process.exit(0));
  };
  process.once('SIGINT', () => shutdown('SIGINT'));
  process.once('SIGTERM', () => shutdown('SIGTERM'));
}

main().catch((err: unknown) => {
  process.stderr.write(`sip engine failed: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
