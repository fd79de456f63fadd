import t from 'tap'
import { registryKind } from '@flexseat/sim'

// The simulation's registries: each lists its own site's etcd member first, and the leading one
// moves etcd's raft leader there (FLEXSEAT_MOVE_ETCD_LEADER; docs/PERFORMANCE.md, issue 13).
t.test("each registry lists its own member first and moves etcd's leader there while it leads", async (t) => {
  const sites = ['amsterdam', 'berlin', 'chicago'].map((id, i) => ({ id, registry: { listen: `127.0.0.1:5005${i + 1}` } })) as unknown as Parameters<typeof registryKind.command>[1]['sites']
  const context = {
    repoRoot: '/repo',
    sitesDir: '/repo/sites',
    sites,
    etcdEndpoints: ['http://127.0.0.1:2379', 'http://127.0.0.1:2381', 'http://127.0.0.1:2383'],
    tokens: { file: '/state/tokens.yaml', cluster: 'c' },
  } as unknown as Parameters<typeof registryKind.command>[1]
  const env = registryKind.command(sites[1]!, context).env
  t.equal(env['FLEXSEAT_ETCD_ENDPOINTS'], 'http://127.0.0.1:2381,http://127.0.0.1:2383,http://127.0.0.1:2379', "berlin's member first")
  t.equal(env['FLEXSEAT_MOVE_ETCD_LEADER'], 'true')
})
