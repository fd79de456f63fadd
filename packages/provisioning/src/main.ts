#!/usr/bin/env node
// flexseat-provisioning --site <id> [--sites-dir <dir>]: a branch's provisioning service.
import { ConfigError } from '@flexseat/config'
import { RegistryClient } from '@flexseat/sip-node'
import { pino } from 'pino'
import { loadProvisioningConfig } from './config'
import { ProvisioningError } from './errors'
import { ProvisioningService } from './service'

async function main(): Promise<void> {
  let config
  try {
    config = await loadProvisioningConfig(process.argv.slice(2), process.env)
  } catch (error) {
    if (error instanceof ProvisioningError || error instanceof ConfigError) {
      process.stderr.write(`flexseat-provisioning: ${error.message}\n`)
      process.exit(2)
    }
    throw error
  }
  const logger = pino({ level: config.logLevel, base: { service: 'flexseat-provisioning', site: config.site.id } })
  const registry = new RegistryClient({ addresses: config.registryAddresses, token: config.registryToken, ca: config.registryCa, logger })
  const service = await ProvisioningService.create({ site: config.site, listen: config.listen, publicUrl: config.publicUrl, tls: config.tls, registry, logger })
  let stopping = false
  const stop = (signal: string): void => {
    if (stopping) return
    stopping = true
    logger.info({ signal }, 'provisioning stopping')
    void service.stop().finally(() => {
      registry.close()
      process.exit(0)
    })
  }
  process.on('SIGTERM', () => stop('SIGTERM'))
  process.on('SIGINT', () => stop('SIGINT'))
}

main().catch((error: unknown) => {
  process.stderr.write(`flexseat-provisioning: ${(error as Error).stack ?? String(error)}\n`)
  process.exit(1)
})
