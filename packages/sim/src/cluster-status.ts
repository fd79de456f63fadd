import { credentials } from '@grpc/grpc-js'
import { bearer, ClusterServiceClient, type GetClusterStatusResponse, unary } from '@flexseat/proto'

/** Asks the registry at `address` (plaintext gRPC) for the cluster status. */
export async function fetchClusterStatus(address: string, token: string, options: { timeoutMs?: number; signal?: AbortSignal } = {}): Promise<GetClusterStatusResponse> {
  const client = new ClusterServiceClient(address, credentials.createInsecure())
  try {
    return await unary(client.getClusterStatus.bind(client), {}, { timeoutMs: options.timeoutMs ?? 2_000, signal: options.signal, metadata: bearer(token) })
  } finally {
    client.close()
  }
}

/**
 * Polls the registries until one of them reports a leader and a live instance for every
 * expected site. Resolves with that answer; rejects when `signal` aborts.
 */
export async function waitForLeader(addresses: readonly string[], token: string, siteIds: readonly string[], signal: AbortSignal): Promise<GetClusterStatusResponse> {
  for (;;) {
    for (const address of addresses) {
      signal.throwIfAborted()
      try {
        const status = await fetchClusterStatus(address, token, { signal })
        const live = new Set(status.instances.map((instance) => instance.siteId))
        if (status.leader !== undefined && siteIds.every((id) => live.has(id))) return status
      } catch {
        // Not serving yet, or an election is under way: ask again.
      }
    }
    await new Promise<void>((resolve) => setTimeout(resolve, 200).unref())
  }
}
