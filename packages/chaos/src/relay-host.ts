import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { type RelayConditions, type RelayEndpoint, TetheredProcess, type WanRelayOptions } from '@flexseat/sim'
import { ChaosError } from './errors'
import type { ProcessOutput } from './process-output'

/** The relay host's entry point (relay-host-main.ts, compiled). */
const RELAY_HOST_MAIN = join(__dirname, 'relay-host-main.js')

/**
 * The run's WAN relays (`WanRelay`s of `@flexseat/sim`) in a process of their own, so that what
 * they delay is not delayed again by the runner's own work (spawning sipp, the clients, the
 * logs): started with every relay's routes by name, it prints the addresses they listen on and
 * takes commands (cut, heal, new conditions) on a loopback HTTP port. Tethered: it dies with the
 * runner.
 */
export class RelayHost {
  readonly #process: TetheredProcess
  readonly #control: number
  readonly #addresses: Record<string, RelayEndpoint[]>

  private constructor(process: TetheredProcess, control: number, addresses: Record<string, RelayEndpoint[]>) {
    this.#process = process
    this.#control = control
    this.#addresses = addresses
  }

  /** Starts the relays; resolves once all listen. */
  static async start(relays: Record<string, WanRelayOptions>, out: ProcessOutput, timeoutMs = 30_000): Promise<RelayHost> {
    const child = await TetheredProcess.spawn(process.execPath, [RELAY_HOST_MAIN, JSON.stringify(relays)], {})
    const ready = new Promise<{ control: number; addresses: Record<string, RelayEndpoint[]> }>((resolve, reject) => {
      const timer = setTimeout(() => reject(new ChaosError('CLUSTER_FAILED', `the relay host did not start within ${timeoutMs} ms: ${out.tail(5)}`)), timeoutMs)
      createInterface({ input: child.stdout, crlfDelay: Infinity }).on('line', (line) => {
        out.add(line)
        if (!line.startsWith('{"ready"')) return
        clearTimeout(timer)
        resolve(JSON.parse(line) as { control: number; addresses: Record<string, RelayEndpoint[]> })
      })
      createInterface({ input: child.stderr, crlfDelay: Infinity }).on('line', (line) => out.add(line))
      void child.exited.then((exit) => {
        clearTimeout(timer)
        reject(new ChaosError('CLUSTER_FAILED', `the relay host exited (${JSON.stringify(exit)}): ${out.tail(5)}`))
      })
    })
    try {
      const { control, addresses } = await ready
      return new RelayHost(child, control, addresses)
    } catch (error) {
      await child.stop(1_000)
      throw error
    }
  }

  /** Where route `route` of relay `name` listens. */
  address(name: string, route: number): RelayEndpoint {
    const address = this.#addresses[name]?.[route]
    if (address === undefined) throw new ChaosError('BAD_OPTION', `relay ${name} has no route ${route}`)
    return address
  }

  cut(name: string): Promise<void> {
    return this.#command(name, 'cut')
  }

  heal(name: string): Promise<void> {
    return this.#command(name, 'heal')
  }

  setConditions(name: string, conditions: { up?: RelayConditions; down?: RelayConditions }): Promise<void> {
    return this.#command(name, 'conditions', conditions)
  }

  /** Stops the relays and the process. Idempotent. */
  async stop(): Promise<void> {
    await this.#process.stop(2_000)
  }

  async #command(name: string, command: string, body?: unknown): Promise<void> {
    const response = await fetch(`http://127.0.0.1:${this.#control}/${encodeURIComponent(name)}/${command}`, { method: 'POST', body: JSON.stringify(body ?? {}), signal: AbortSignal.timeout(10_000) })
    if (!response.ok) throw new ChaosError('CLUSTER_FAILED', `relay ${name} ${command}: ${response.status} ${await response.text()}`)
  }
}
