#!/usr/bin/env node
// flexseat-portal --site <id> [--sites-dir <dir>]: a branch's web portal.
import { ConfigError } from '@flexseat/config'
import { pino } from 'pino'
import { loadPortalConfig } from './config'
import { PortalError } from './errors'
import { PortalRegistry } from './registry'
import { PortalService } from './service'

async function main(): Promise<void> {
  let config
  try {
    config = await loadPortalConfig(process.argv.slice(2), process.env)
  } catch (error) {
    if (error instanceof PortalError || error instanceof ConfigError) {
      process.stderr.write(`flexseat-portal: ${error.message}\n`)
      process.exit(2)
    }
    throw error
  }
  const logger = pino({ level: config.logLevel, base: { service: 'flexseat-portal', site: config.site.id } })
  const registry = new PortalRegistry({ addresses: config.registryAddresses, token: config.registryToken, ca: config.registryCa })
  const service = await PortalService.create({
    listen: config.listen,
    publicUrl: config.publicUrl,
    tls: config.tls,
    registry,
    cookieSecret: config.cookieSecret,
    rateLimit: config.rateLimit,
    signInLimit: config.signInLimit,
    logger,
  })
  let stopping = false
  const stop = (signal: string): void => {
    if (stopping) return
    stopping = true
    logger.info({ signal }, 'portal stopping')
    void service.stop().finally(() => {
      registry.close()
      process.exit(0)
    })
  }
  process.on('SIGTERM', () => stop('SIGTERM'))
  process.on('SIGINT', () => stop('SIGINT'))
}

main().catch((error: unknown) => {
  process.stderr.write(`flexseat-portal: ${(error as Error).stack ?? String(error)}\n`)
  process.exit(1)
})
