import { createSocket, type RemoteInfo, type Socket as UdpSocket } from 'node:dgram'
import { createServer, connect, type Server, type Socket } from 'node:net'
import { SimError } from './errors'

/**
 * The userspace WAN of the multi-host mode where the kernel has no netem (`sch_netem`): a relay
 * for TCP and UDP that delays what passes through it, as a WAN link between two sites would.
 *
 * A route listens at `listen` and forwards to `target`. Each direction (client → target "up",
 * target → client "down") has its own conditions: a one-way delay, a jitter (each chunk or
 * datagram delayed by `delay ± jitter`, uniform, never below 0) and, for UDP, a loss.
 *
 * - TCP: one upstream connection per accepted client. Every chunk read is written to the other
 *   side after its own delay, but never before the chunk read before it: jitter does not reorder
 *   bytes within a stream (a chunk is held until the previous one is released). A half close is
 *   passed on in order, after the last chunk. Loss does not apply to TCP: the kernel's TCP would
 *   retransmit the lost segment; a lossy TCP link shows as extra delay, which the jitter models.
 * - UDP: one upstream socket per client source (address and port), so that the target's replies
 *   route back to the client they answer; each datagram delayed on its own (jitter may reorder
 *   datagrams, as a real network does) and lost with the route's probability. A source silent
 *   for {@link UDP_IDLE_MS} loses its upstream socket.
 * - `sourceFromClient` (the multi-host mode's transparent relay): the upstream connection or
 *   socket is bound to the client's own address (port chosen by the kernel), so the target sees
 *   the client's address, not the relay's. Needs `net.ipv4.ip_nonlocal_bind=1` and routes that
 *   bring the replies back to the relay (netns.ts sets both up in the relay's namespace).
 *
 * The randomness (jitter, loss) comes from a seeded generator: a run is reproducible.
 */

/** The conditions of one direction of a route. */
export interface RelayConditions {
  /** One-way delay in ms (default 0). */
  delayMs?: number
  /** Each chunk or datagram delayed by `delayMs ± jitterMs` (uniform; default 0). */
  jitterMs?: number
  /** UDP only: share of datagrams dropped, in percent (default 0). */
  lossPercent?: number
}

/** An address of a route. */
export interface RelayEndpoint {
  host: string
  port: number
}

/** One relayed address. */
export interface RelayRoute {
  protocol: 'tcp' | 'udp'
  /** Where the relay listens (port 0: the kernel chooses; {@link WanRelay.address} says which). */
  listen: RelayEndpoint
  /** Where it forwards to. */
  target: RelayEndpoint
  /** Client → target (default: the relay's `up`). */
  up?: RelayConditions
  /** Target → client (default: the relay's `down`). */
  down?: RelayConditions
  /** Bind the upstream side to the client's address (a transparent relay; see above). */
  sourceFromClient?: boolean
}

/** Options of {@link WanRelay.start}. */
export interface WanRelayOptions {
  routes: readonly RelayRoute[]
  /** Conditions client → target of every route that has none of its own. */
  up?: RelayConditions
  /** Conditions target → client of every route that has none of its own. */
  down?: RelayConditions
  /** Seed of the jitter and loss generator (default 1). */
  seed?: number
}

/** Counters of a running relay. */
export interface WanRelayStats {
  tcpConnections: number
  tcpBytes: number
  udpDatagrams: number
  udpLost: number
}

/** How long a UDP client source keeps its upstream socket without a datagram either way. */
export const UDP_IDLE_MS = 120_000
/** A TCP side stops reading while this many bytes wait for their delay (backpressure). */
const TCP_HIGH_WATER = 4 * 1024 * 1024

/** mulberry32: small, fast and good enough for jitter and loss; deterministic from its seed. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0
  return () => {
    state = (state + 0x6d2b79f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

interface Direction {
  delayMs: number
  jitterMs: number
  loss: number
}

/** A running relay. Start it with {@link WanRelay.start}; stop it with {@link WanRelay.close}. */
export class WanRelay {
  readonly stats: WanRelayStats = { tcpConnections: 0, tcpBytes: 0, udpDatagrams: 0, udpLost: 0 }
  readonly #random: () => number
  readonly #servers: Server[] = []
  readonly #udp: UdpSocket[] = []
  readonly #sockets = new Set<Socket>()
  readonly #timers = new Set<NodeJS.Timeout>()
  readonly #addresses: RelayEndpoint[] = []
  /** Every route's directions, by route: {@link setConditions} changes them in place. */
  readonly #directions: { up: Direction; down: Direction; protocol: 'tcp' | 'udp' }[] = []
  #closed = false
  #cut = false
  /** Streams held by a cut, released by {@link heal}. */
  readonly #held = new Set<() => void>()

  private constructor(seed: number) {
    this.#random = seededRandom(seed)
  }

  /**
   * Listens on every route; resolves when all listen.
   * @throws SimError `BAD_OPTION` on a bad condition or port, `RELAY_FAILED` when a listen fails (nothing is left listening).
   */
  static async start(options: WanRelayOptions): Promise<WanRelay> {
    const relay = new WanRelay(options.seed ?? 1)
    try {
      for (const route of options.routes) {
        const up = direction(route.up ?? options.up ?? {}, route.protocol)
        const down = direction(route.down ?? options.down ?? {}, route.protocol)
        for (const endpoint of [route.listen, route.target]) {
          if (!Number.isInteger(endpoint.port) || endpoint.port < 0 || endpoint.port > 65535) throw new SimError('BAD_OPTION', `relay port ${endpoint.port} is not 0-65535`)
        }
        relay.#directions.push({ up, down, protocol: route.protocol })
        relay.#addresses.push(route.protocol === 'tcp' ? await relay.#listenTcp(route, up, down) : await relay.#listenUdp(route, up, down))
      }
      return relay
    } catch (error) {
      await relay.close()
      if (error instanceof SimError) throw error
      throw new SimError('RELAY_FAILED', `the WAN relay could not listen: ${(error as Error).message}`, { cause: error })
    }
  }

  /** Where route i listens (the port the kernel chose for port 0). */
  address(i: number): RelayEndpoint {
    const address = this.#addresses[i]
    if (!address) throw new SimError('BAD_OPTION', `the relay has no route ${i}`)
    return address
  }

  /**
   * Changes the conditions of every route from now on (what is already delayed keeps its release
   * time): `up` and `down` replace each direction's delay, jitter and loss as
   * {@link WanRelayOptions} would have set them at the start.
   * @throws SimError `BAD_OPTION` on a bad condition (nothing is changed).
   */
  setConditions(conditions: { up?: RelayConditions; down?: RelayConditions }): void {
    const changed = this.#directions.map((d) => ({
      up: direction(conditions.up ?? {}, d.protocol),
      down: direction(conditions.down ?? {}, d.protocol),
    }))
    for (const [i, d] of this.#directions.entries()) {
      Object.assign(d.up, changed[i]!.up)
      Object.assign(d.down, changed[i]!.down)
    }
  }

  /**
   * Cuts every route, as a WAN outage does: UDP datagrams are dropped; TCP streams stop moving
   * both ways (nothing read is lost or reordered: it is held, and the sockets stop reading, so the
   * peers see a silent link, not a reset); new TCP connections are accepted and held likewise.
   * {@link heal} lets everything held go on. Idempotent.
   */
  cut(): void {
    this.#cut = true
  }

  /** Ends a {@link cut}: held streams move again (each chunk no sooner than its own delay). Idempotent. */
  heal(): void {
    if (!this.#cut) return
    this.#cut = false
    const held = [...this.#held]
    this.#held.clear()
    for (const release of held) release()
  }

  /** Whether the relay is cut ({@link cut}). */
  get isCut(): boolean {
    return this.#cut
  }

  /** Stops listening, drops every connection and mapping, and forgets what was in flight. Idempotent. */
  async close(): Promise<void> {
    this.#closed = true
    for (const timer of this.#timers) clearTimeout(timer)
    this.#timers.clear()
    for (const socket of this.#sockets) socket.destroy()
    this.#sockets.clear()
    for (const socket of this.#udp) {
      try {
        socket.close()
      } catch {
        // already closed
      }
    }
    this.#udp.length = 0
    await Promise.all(this.#servers.map((server) => new Promise<void>((resolve) => server.close(() => resolve()))))
    this.#servers.length = 0
  }

  /** The delay of one chunk or datagram: `delay ± jitter`, uniform, never negative. */
  #sample(d: Direction): number {
    if (d.jitterMs === 0) return d.delayMs
    return Math.max(0, d.delayMs + (this.#random() * 2 - 1) * d.jitterMs)
  }

  #later(ms: number, action: () => void): void {
    if (this.#closed) return
    const timer = setTimeout(() => {
      this.#timers.delete(timer)
      action()
    }, ms)
    this.#timers.add(timer)
  }

  #listenTcp(route: RelayRoute, up: Direction, down: Direction): Promise<RelayEndpoint> {
    const server = createServer({ allowHalfOpen: true, noDelay: true }, (client) => {
      this.stats.tcpConnections++
      const upstream = connect({
        host: route.target.host,
        port: route.target.port,
        allowHalfOpen: true,
        noDelay: true,
        ...(route.sourceFromClient && client.remoteAddress ? { localAddress: client.remoteAddress } : {}),
      })
      this.#sockets.add(client)
      this.#sockets.add(upstream)
      const drop = (): void => {
        client.destroy()
        upstream.destroy()
        this.#sockets.delete(client)
        this.#sockets.delete(upstream)
      }
      // A reset or a failed connect on either side drops both; an orderly end travels in order.
      client.on('error', drop).on('close', () => this.#sockets.delete(client))
      upstream.on('error', drop).on('close', () => this.#sockets.delete(upstream))
      this.#pipe(client, upstream, up)
      this.#pipe(upstream, client, down)
    })
    this.#servers.push(server)
    return listen(server, route.listen)
  }

  /**
   * Forwards `from` to `to`: each chunk after its own delay, but never before the chunk read
   * before it (a FIFO released from its head by one timer), and `from`'s end after the last chunk.
   */
  #pipe(from: Socket, to: Socket, d: Direction): void {
    const queue: { at: number; chunk: Buffer | undefined }[] = []
    let lastAt = 0
    let held = 0
    let timer = false
    const flush = (): void => {
      timer = false
      if (this.#cut) {
        // Held until the heal: the queue keeps its order, and reading stops (a silent link).
        timer = true
        from.pause()
        this.#held.add(flush)
        return
      }
      const now = performance.now()
      while (queue.length > 0 && queue[0]!.at <= now) {
        const { chunk } = queue.shift()!
        if (to.destroyed) continue
        if (chunk === undefined) to.end()
        else {
          held -= chunk.length
          to.write(chunk)
        }
      }
      if (held <= TCP_HIGH_WATER && from.isPaused() && !to.writableNeedDrain) from.resume()
      if (queue.length > 0) {
        timer = true
        this.#later(queue[0]!.at - now, flush)
      }
    }
    const push = (chunk: Buffer | undefined): void => {
      // Release times never decrease: jitter delays a chunk, it never lets it pass the one before.
      lastAt = Math.max(lastAt, performance.now() + this.#sample(d))
      queue.push({ at: lastAt, chunk })
      if (!timer) flush()
    }
    from.on('data', (chunk: Buffer) => {
      this.stats.tcpBytes += chunk.length
      held += chunk.length
      if (held > TCP_HIGH_WATER || to.writableNeedDrain) from.pause()
      push(chunk)
    })
    to.on('drain', () => {
      if (held <= TCP_HIGH_WATER && from.isPaused() && !this.#cut) from.resume()
    })
    from.on('end', () => push(undefined))
  }

  #listenUdp(route: RelayRoute, up: Direction, down: Direction): Promise<RelayEndpoint> {
    const listener = createSocket('udp4')
    this.#udp.push(listener)
    /** Client source (`address:port`) → its upstream socket and its last activity. */
    const clients = new Map<string, { socket: UdpSocket; seen: number }>()
    const sweep = setInterval(() => {
      const now = performance.now()
      for (const [key, client] of clients) {
        if (now - client.seen < UDP_IDLE_MS) continue
        clients.delete(key)
        client.socket.close()
      }
    }, UDP_IDLE_MS / 4)
    sweep.unref()
    listener.on('close', () => {
      clearInterval(sweep)
      for (const client of clients.values()) client.socket.close()
      clients.clear()
    })
    listener.on('error', () => undefined)
    const upstreamOf = (from: RemoteInfo): { socket: UdpSocket; seen: number } => {
      const key = `${from.address}:${from.port}`
      let client = clients.get(key)
      if (client) return client
      const socket = createSocket('udp4')
      const entry = { socket, seen: performance.now() }
      client = entry
      clients.set(key, entry)
      socket.on('error', () => undefined)
      socket.on('message', (message) => {
        entry.seen = performance.now()
        this.#datagram(down, () => listener.send(message, from.port, from.address))
      })
      socket.bind({ port: 0, ...(route.sourceFromClient ? { address: from.address } : {}) })
      return entry
    }
    listener.on('message', (message, from) => {
      const client = upstreamOf(from)
      client.seen = performance.now()
      this.#datagram(up, () => client.socket.send(message, route.target.port, route.target.host))
    })
    return new Promise((resolve, reject) => {
      listener.once('error', reject)
      listener.bind({ port: route.listen.port, address: route.listen.host }, () => {
        listener.off('error', reject)
        const address = listener.address()
        resolve({ host: address.address, port: address.port })
      })
    })
  }

  /** One datagram: counted, maybe lost, sent after its own delay (jitter may reorder). */
  #datagram(d: Direction, send: () => void): void {
    this.stats.udpDatagrams++
    if (this.#cut || (d.loss > 0 && this.#random() < d.loss)) {
      this.stats.udpLost++
      return
    }
    const wait = this.#sample(d)
    const guarded = (): void => {
      try {
        send()
      } catch {
        // the socket closed meanwhile: the datagram is lost, as on a network
      }
    }
    if (wait === 0) guarded()
    else this.#later(wait, guarded)
  }
}

function direction(conditions: RelayConditions, protocol: 'tcp' | 'udp'): Direction {
  const check = (what: string, value: number, max: number): number => {
    if (!Number.isFinite(value) || value < 0 || value > max) throw new SimError('BAD_OPTION', `relay ${what} ${value} is not a number from 0 to ${max}`)
    return value
  }
  const delayMs = check('delay', conditions.delayMs ?? 0, 60_000)
  const jitterMs = check('jitter', conditions.jitterMs ?? 0, 60_000)
  const lossPercent = check('loss', conditions.lossPercent ?? 0, 100)
  return { delayMs, jitterMs, loss: protocol === 'udp' ? lossPercent / 100 : 0 }
}

function listen(server: Server, at: RelayEndpoint): Promise<RelayEndpoint> {
  return new Promise((resolve, reject) => {
    server.once('error', reject)
    server.listen(at.port, at.host, () => {
      server.off('error', reject)
      const address = server.address()
      if (address === null || typeof address === 'string') reject(new Error('no address'))
      else resolve({ host: address.address, port: address.port })
    })
  })
}
