import { createServer, type Server } from 'node:net'
import { createSocket, type Socket } from 'node:dgram'

/**
 * Every port this process has handed out. A port is released as soon as it is checked free, so
 * without this two callers in one process (a test reserving a registry's address, then etcd's)
 * could be told the same port, and the later program would fail to bind.
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
 * Ports are picked at random here, below the kernel's usual ephemeral range (32768–60999): a
 * port the kernel hands to `bind(0)` or to an outgoing connection (an etcd or gRPC client of
 * any process) can be taken again by another socket the moment it is released, which made a
 * program started on a reserved port fail to bind now and then on a busy machine.
 */
const PICK_RANGE = { first: 20_000, last: 32_000 }

/** A port of the pick range not handed out by this process yet (not yet checked free). */
export function candidatePort(): number {
  for (;;) {
    const port = PICK_RANGE.first + Math.floor(Math.random() * (PICK_RANGE.last - PICK_RANGE.first))
    if (!handedOut.has(port)) return port
  }
}

/**
 * `count` distinct TCP ports on `host`, free now and none handed out before by this process.
 * The ports are released before this returns, so another process may take one first: callers
 * that cannot pass port 0 to the program they start retry on a bind failure with fresh ports
 * (EtcdCluster.start does, when given a member count: a member that exits during start sends it
 * round again).
 */
export async function freePorts(count: number, host = '127.0.0.1'): Promise<number[]> {
  const servers: Server[] = []
  const ports: number[] = []
  try {
    for (let tries = 0; ports.length < count; tries += 1) {
      if (tries >= count + 1_000) throw new Error(`no ${count} free TCP ports on ${host}`)
      const port = candidatePort()
      const server = await new Promise<Server | undefined>((resolve) => {
        const candidate = createServer()
        candidate.once('error', () => resolve(undefined))
        candidate.listen(port, host, () => resolve(candidate))
      })
      if (server === undefined) continue
      servers.push(server)
      if (claimPort(port)) ports.push(port)
    }
    return ports
  } finally {
    await Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))))
  }
}

/**
 * The first of `count` consecutive UDP ports on `host`, free now and never handed out before by
 * this process: for sipp's `-mp`, which binds its audio and video RTP/RTCP sockets at the port and
 * the next three and exits when one is taken. Picked as {@link candidatePort} does.
 */
export async function freeUdpPortRange(count = 4, host = '127.0.0.1'): Promise<number> {
  for (let tries = 0; tries < 200; tries += 1) {
    const base = PICK_RANGE.first + 2 * Math.floor((Math.random() * (PICK_RANGE.last - PICK_RANGE.first - count)) / 2)
    const ports = Array.from({ length: count }, (_, i) => base + i)
    if (ports.some((port) => handedOut.has(port))) continue
    const sockets: Socket[] = []
    let free = true
    for (const port of ports) {
      const socket = createSocket('udp4')
      sockets.push(socket)
      free = await new Promise<boolean>((resolve) => {
        socket.once('error', () => resolve(false))
        socket.bind(port, host, () => resolve(true))
      })
      if (!free) break
    }
    await Promise.all(sockets.map((socket) => new Promise<void>((resolve) => {
      try {
        socket.close(() => resolve())
      } catch {
        resolve()
      }
    })))
    if (free) {
      for (const port of ports) handedOut.add(port)
      return base
    }
  }
  throw new Error(`no ${count} consecutive free UDP ports on ${host}`)
}
