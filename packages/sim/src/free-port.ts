import { createServer, type Server } from 'node:net'

/**
 * Every port this process has handed out. The kernel may give a port released a moment ago to
 * the next `listen(0)`: without this, two callers in one process (a test reserving a registry's
 * address, then etcd's) could be told the same port, and the later program fails to bind.
 */
const handedOut = new Set<number>()

/**
 * Records `port` as handed out by this process; false when it already was (the caller then asks
 * for another). For other port pickers of the same process (the SIP tests' UDP+TCP one).
 */
export function claimPort(port: number): boolean {
  if (handedOut.has(port)) return false
  handedOut.add(port)
  return true
}

/**
 * Asks the kernel for `count` distinct free TCP ports on `host`, none handed out before by this
 * process. The ports are released before this returns, so another process may take one first:
 * callers that cannot pass port 0 to the program they start retry on a bind failure with fresh
 * ports (EtcdCluster.start does, when given a member count: a member that exits during start
 * sends it round again).
 */
export async function freePorts(count: number, host = '127.0.0.1'): Promise<number[]> {
  const servers: Server[] = []
  const ports: number[] = []
  try {
    // Holding every server open until the end keeps the kernel from repeating a port among them.
    for (let tries = 0; ports.length < count; tries += 1) {
      if (tries >= count + 1_000) throw new Error(`no ${count} free TCP ports on ${host}`)
      const server = await new Promise<Server>((resolve, reject) => {
        const candidate = createServer()
        candidate.once('error', reject)
        candidate.listen(0, host, () => resolve(candidate))
      })
      servers.push(server)
      const address = server.address()
      if (address === null || typeof address === 'string') throw new Error('no TCP address')
      if (claimPort(address.port)) ports.push(address.port)
    }
    return ports
  } finally {
    await Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))))
  }
}
