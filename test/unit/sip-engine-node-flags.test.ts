/**
 * The embedded engine's Node flags (EMBEDDED_ENGINE_NODE_FLAGS of @flexseat/sim): every starter
 * gives them (the simulation's command, the bin's `#!` line), and they do what they are there for,
 * a young generation of at most 2 MiB (Node's default grows to 32 MiB under load: the difference
 * between 120–160 MiB and 72–86 MiB RSS at 12,000 REGISTER/s offered, docs/PERFORMANCE.md).
 */
import t from 'tap'
import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { EMBEDDED_ENGINE_NODE_FLAGS, engineKind } from '@flexseat/sim'

const REPO = join(__dirname, '..', '..')
const MAIN = join(REPO, 'packages', 'sip-engine', 'dist', 'main.js')

/** The young generation's size (MiB) after a process with `flags` allocated 200 MiB of short-lived objects. */
function youngGenerationMiB(flags: readonly string[]): number {
  const script = `
    const v8 = require('v8'); let keep
    for (let i = 0; i < 2e6; i++) keep = { i, s: 'x' + i, a: [i, i, i, i, i, i, i, i, i, i] }
    const young = v8.getHeapSpaceStatistics().find((s) => s.space_name === 'new_space')
    process.stdout.write(String(young.space_size / 1048576))`
  return Number(execFileSync(process.execPath, [...flags, '-e', script], { encoding: 'utf8' }))
}

t.test('the flags are V8 flags this node accepts, and they hold the young generation at 2 MiB', async (t) => {
  t.ok(EMBEDDED_ENGINE_NODE_FLAGS.length > 0)
  const capped = youngGenerationMiB(EMBEDDED_ENGINE_NODE_FLAGS)
  t.ok(capped <= 2, `young generation ${capped} MiB with ${EMBEDDED_ENGINE_NODE_FLAGS.join(' ')}`)
  // the same allocations grow it past that with Node's defaults: the measure can tell them apart
  const free = youngGenerationMiB([])
  t.ok(free > 2, `young generation ${free} MiB with Node's defaults`)
})

t.test("the simulation starts the engine with them, before the engine's entry point", async (t) => {
  const site = { id: 'berlin', registry: { listen: '127.0.0.1:50052' }, sip: { contact: 'sip:127.0.0.1:5062;transport=udp', control: '127.0.0.1:9023' } } as Parameters<typeof engineKind.command>[0]
  const context = { repoRoot: '/repo', tokens: { engineSecret: 's3' } } as Parameters<typeof engineKind.command>[1]
  const { command, args } = engineKind.command(site, context)
  t.equal(command, process.execPath)
  t.same(args.slice(0, EMBEDDED_ENGINE_NODE_FLAGS.length + 1), [...EMBEDDED_ENGINE_NODE_FLAGS, join('/repo', 'packages', 'sip-engine', 'dist', 'main.js')])
})

t.test("the bin (flexseat-sip-engine) carries the same flags in its #! line", async (t) => {
  const firstLine = readFileSync(MAIN, 'utf8').split('\n', 1)[0]
  t.equal(firstLine, `#!/usr/bin/env -S node ${EMBEDDED_ENGINE_NODE_FLAGS.join(' ')}`)
})
