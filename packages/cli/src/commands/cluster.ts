import { GetClusterStatusResponse } from '@flexseat/proto'
import { formatClusterStatus } from '../format-records'
import type { CommandSpec } from './command'

const status: CommandSpec = {
  path: ['cluster', 'status'],
  synopsis: '',
  summary: 'the leader, since when, every registry instance with its health, and each branch\'s SIP node and phones online',
  options: [],
  async run(context) {
    const client = context.client()
    const c = client.cluster
    const response = await client.call(c.getClusterStatus.bind(c), {}, context.signal)
    if (context.json) context.printJson(GetClusterStatusResponse.toJSON(response))
    else context.print(formatClusterStatus(response))
  },
}

/** The `cluster` commands. */
export const CLUSTER_COMMANDS: readonly CommandSpec[] = [status]
