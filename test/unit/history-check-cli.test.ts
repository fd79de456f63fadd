import { execFile } from 'node:child_process'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import t from 'tap'
import { readRun, RunFileError } from '@flexseat/history-check'

// flexseat-check on run directories without etcd (its replay is in the integration test): the
// exit status says pass / violations / unreadable / undecided; bad records name file and line.

const run = promisify(execFile)
const BIN = join(__dirname, '../../packages/history-check/bin/flexseat-check.js')

async function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [BIN, ...args])
    return { code: 0, stdout, stderr }
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string }
    return { code: e.code, stdout: e.stdout, stderr: e.stderr }
  }
}

const line = (o: object) => JSON.stringify(o) + '\n'
const op = (id: string, kind: string, userId: string, deviceId: string, invokeMs: number, completeMs: number | null, result?: string | null) =>
  line({ id, process: 'grpc:1', kind, userId, deviceId, via: 'grpc', invokeMs, completeMs, outcome: 'ok', ...(result !== undefined ? { result: { deviceId: result } } : {}) })

t.test('exit status and report', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'flexseat-check-cli-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  await writeFile(join(dir, 'history.jsonl'), op('a', 'login', 'alice', 'ams-1', 0, 10) + op('b', 'read', 'alice', '', 20, 30, 'ams-1'))
  const undecided = await cli([dir])
  t.equal(undecided.code, 3, 'no etcd.json: the replayed checkers cannot decide')
  t.match(undecided.stdout, /linearizability\s+checked\s+2\s+ok/)
  t.match(undecided.stdout, /unknown\s+uniqueness: no etcd.json/)

  await writeFile(join(dir, 'history.jsonl'), op('a', 'login', 'alice', 'ams-1', 0, 10) + op('b', 'read', 'alice', '', 20, 30, null))
  await writeFile(join(dir, 'phones.jsonl'), line({ atMs: 0, deviceId: 'ams-1', event: 'presenting', userId: 'alice' }) + line({ atMs: 10, deviceId: 'ber-1', event: 'presenting', userId: 'alice' }) + line({ atMs: 9000, deviceId: 'ams-1', event: 'revoked', userId: 'alice' }))
  const bad = await cli([dir, '--json'])
  t.equal(bad.code, 1, 'violations: exit 1')
  const report = JSON.parse(bad.stdout) as { violations: { checker: string }[]; checked: Record<string, number> }
  t.same(report.violations.map((v) => v.checker).sort(), ['linearizability', 'phones'])
  t.equal(report.checked['phones'], 3)
  t.equal((await cli([dir, '--phone-bound-ms', '10000'])).stdout.includes('VIOLATION phones'), false, 'the bound is an option')

  await writeFile(join(dir, 'watch.jsonl'), '{"client": "w", "atMs": 1}\n')
  const unreadable = await cli([dir])
  t.equal(unreadable.code, 2, 'a bad record: exit 2')
  t.match(unreadable.stderr, /watch\.jsonl:1: "client", "userId" and "type" must be strings/)
  t.equal((await cli([dir, '--max-steps', 'x'])).code, 2, 'a bad option: usage')
})

t.test('records are validated line by line', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'flexseat-check-read-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const cases: [string, RegExp][] = [
    ['{not json', /history\.jsonl:2: not JSON/],
    [line({ id: 'x', process: 'p', kind: 'read', userId: 'u', deviceId: '', via: 'grpc', invokeMs: 1, completeMs: 2, outcome: 'ok' }), /history\.jsonl:2: an ok read needs "result"/],
    [line({ id: 'x', process: 'p', kind: 'login', userId: 'u', deviceId: 'd', via: 'grpc', invokeMs: 5, completeMs: 2, outcome: 'ok' }), /"completeMs" is before "invokeMs"/],
    [op('a', 'login', 'alice', 'ams-1', 0, 10), /operation id "a" appears twice/],
  ]
  for (const [second, error] of cases) {
    await writeFile(join(dir, 'history.jsonl'), op('a', 'login', 'alice', 'ams-1', 0, 10) + second)
    await t.rejects(readRun(dir), error)
    await t.rejects(readRun(dir), RunFileError)
  }
  await t.rejects(readRun(join(dir, 'nowhere')), /history\.jsonl: missing: not a run directory/)
  await writeFile(join(dir, 'history.jsonl'), op('a', 'login', 'alice', 'ams-1', 0, 10))
  await writeFile(join(dir, 'etcd.json'), JSON.stringify({ endpoints: [], prefix: 'p/', fromRevision: 1, toRevision: 2 }))
  await t.rejects(readRun(dir), /etcd\.json: "endpoints" must be a non-empty list/)
})

t.test('checkRun: an undecided checker is never a pass', async (t) => {
  const { checkRun } = await import('@flexseat/history-check')
  const dir = await mkdtemp(join(tmpdir(), 'flexseat-check-unknown-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  await writeFile(join(dir, 'history.jsonl'), op('a', 'login', 'alice', 'ams-1', 0, 10))
  const report = await checkRun(dir)
  t.same(report.violations.map((v) => v.checker).sort(), ['acknowledged-sign-ins:unknown', 'uniqueness:unknown', 'watch-streams:unknown'], 'no etcd.json: undecided checks are in violations too')
  t.equal(report.unknown!.length, 3)
  t.same((await checkRun(dir, { unknownAs: 'separate' })).violations, [], 'or only in unknown')
})
