import type { EtcdCluster } from '@flexseat/sim'

/** A member's id and the leader it knows, from etcd's HTTP gateway; undefined when it does not answer. */
export async function memberStatus(clientUrl: string): Promise<{ memberId: string; leader: string } | undefined> {
  try {
    const response = await fetch(`${clientUrl}/v3/maintenance/status`, { method: 'POST', body: '{}', signal: AbortSignal.timeout(1_000) })
    const body = (await response.json()) as { header?: { member_id?: string }; leader?: string }
    return body.header?.member_id === undefined ? undefined : { memberId: body.header.member_id, leader: body.leader ?? '0' }
  } catch {
    return undefined
  }
}

/** The name of the member that leads etcd, as every member agrees; undefined while they do not. */
export async function etcdLeader(etcd: EtcdCluster): Promise<string | undefined> {
  const statuses = await Promise.all(etcd.members.map((m) => memberStatus(m.clientUrl)))
  const leader = statuses[0]?.leader
  if (leader === undefined || leader === '0' || statuses.some((s) => s?.leader !== leader)) return undefined
  return etcd.members[statuses.findIndex((s) => s?.memberId === leader)]?.name
}
