/**
 * The CLI's integration tests' common start: one registry instance on a one-member etcd, leading,
 * stopped in the test's teardown whatever happens, and the real `flexseat` command against it.
 */
import type { Test } from 'tap'
import { Cli, type CliResult } from './cli'
import { RegistryCluster } from './registry-cluster'

/** Runs `flexseat <args>` with `env` to its end and returns what it printed; the process is killed whatever happens. */
export async function runCli(args: readonly string[], env: Record<string, string>, stdinLines?: readonly string[]): Promise<CliResult> {
  const run = await Cli.start(args, env, stdinLines)
  try {
    return await run.result()
  } finally {
    await run.process.kill()
  }
}

/** A started, leading one-instance registry and `cli(args, token)`: `flexseat <args>` against it with `token` (the admin's unless given). */
export async function cliRegistry(t: Test): Promise<{ cluster: RegistryCluster; cli: (args: readonly string[], token?: string) => Promise<CliResult> }> {
  // The registry is started while this test waits on nothing else of its own: keep its event loop alive.
  const keepAlive = setInterval(() => undefined, 1_000)
  const cluster = await RegistryCluster.start({ instances: 1, etcdMembers: 1, logLevel: 'info' }).catch((error: unknown) => {
    clearInterval(keepAlive)
    throw error
  })
  t.teardown(async () => {
    await cluster.stop()
    clearInterval(keepAlive)
  })
  await cluster.leader()
  const address = cluster.instances[0]!.address
  const cli = (args: readonly string[], token = cluster.tokens.admin): Promise<CliResult> => runCli(args, { FLEXSEAT_REGISTRY: address, FLEXSEAT_TOKEN: token })
  return { cluster, cli }
}
