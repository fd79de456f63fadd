import { WanRelay, type WanRelayOptions } from './wan-relay'

/**
 * The relay as a process of its own, so that it can run inside the relay's network namespace
 * (`ip netns exec fxs-.relay node wan-relay-main.js '<options as JSON>'`; a Node process cannot
 * enter a namespace itself). Prints `relay ready <routes>` once every route listens, exits 0 on
 * SIGTERM/SIGINT, 1 with the reason on stderr when a route cannot listen. Exits when its parent
 * goes (stdin closes), so that a killed simulation leaves no relay holding the namespace.
 */
async function main(): Promise<void> {
  const options = JSON.parse(process.argv[2] ?? '{}') as WanRelayOptions
  const relay = await WanRelay.start(options)
  const stop = (): void => {
    void relay.close().then(() => process.exit(0))
  }
  process.on('SIGTERM', stop).on('SIGINT', stop)
  process.stdin.on('end', stop).on('close', stop).resume()
  process.stdout.write(`relay ready ${options.routes.length}\n`)
}

main().catch((error: unknown) => {
  process.stderr.write(`wan relay: ${error instanceof Error ? error.message : String(error)}\n`)
  process.exit(1)
})
