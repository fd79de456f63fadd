import { createServer } from 'node:net'

/**
 * Asks the kernel for `count` distinct free TCP ports on `host`. The ports are released before
 * this returns, so another process may take one first: callers that cannot pass port 0 to the
 * program they start retry on a bind failure with fresh ports (EtcdCluster.start does, when
 * given a member count: a member that exits during start sends it round again).
 */
export async function freePorts(count: number, host = '127.0.0.1'): Promise<number[]> {
  const servers = await Promise.all(
    Array.from({ length: count }, () =>
      new Promise<import('node:net').Server>((resolve, reject) => {
        const server = createServer()
        server.once('error', reject)
        server.listen(0, host, () => resolve(server))
      }),
    ),
  )
  const ports = servers.map((server) => {
    const address = server.address()
    if (address === null || typeof address === 'string') throw new Error('no TCP address')
    return address.port
  })
  await Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))))
  return ports
}
