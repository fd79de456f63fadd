import { createServer } from 'node:http'
import { type RelayEndpoint, WanRelay, type WanRelayOptions } from '@flexseat/sim'

/**
 * The relay host process (relay-host.ts): `node relay-host-main.js '<{ name: WanRelayOptions }>'`.
 * Prints `{"ready":true,"control":<port>,"addresses":{name:[{host,port},...]}}` once every relay
 * listens; then POST /<name>/cut, /<name>/heal, /<name>/conditions (body `{ up, down }`) on the
 * control port. Ends on SIGTERM.
 */
async function main(): Promise<void> {
  const specs = JSON.parse(process.argv[2] ?? '{}') as Record<string, WanRelayOptions>
  const relays = new Map<string, WanRelay>()
  const addresses: Record<string, RelayEndpoint[]> = {}
  for (const [name, options] of Object.entries(specs)) {
    const relay = await WanRelay.start(options)
    relays.set(name, relay)
    addresses[name] = options.routes.map((_, i) => relay.address(i))
  }
  const server = createServer((request, response) => {
    let body = ''
    request.setEncoding('utf8')
    request.on('data', (chunk: string) => (body += chunk))
    request.on('end', () => {
      const [, name, command] = decodeURIComponent(request.url ?? '').split('/')
      const relay = relays.get(name ?? '')
      try {
        if (relay === undefined) throw new Error(`no relay ${name}`)
        if (command === 'cut') relay.cut()
        else if (command === 'heal') relay.heal()
        else if (command === 'conditions') relay.setConditions(JSON.parse(body) as Parameters<WanRelay['setConditions']>[0])
        else throw new Error(`no command ${command}`)
        response.writeHead(204).end()
      } catch (error) {
        response.writeHead(400).end((error as Error).message)
      }
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const address = server.address()
  const control = typeof address === 'object' && address !== null ? address.port : 0
  process.stdout.write(`${JSON.stringify({ ready: true, control, addresses })}\n`)
  process.once('SIGTERM', () => {
    server.close()
    void Promise.all([...relays.values()].map((relay) => relay.close())).then(() => process.exit(0))
  })
}

main().catch((error: unknown) => {
  process.stderr.write(`relay host failed: ${(error as Error).stack ?? String(error)}\n`)
  process.exit(1)
})
