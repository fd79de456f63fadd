// The fail2ban filter of docs/OPERATIONS.md against the SIP node's log lines as pino writes them
// (copied from a run of test/integration/branch-guessing.test.ts): the ban line and the refused
// REGISTER/INVITE lines give the source address; a registered phone's line gives nothing.
import t from 'tap'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'

const OPERATIONS = readFileSync(join(__dirname, '..', '..', 'docs', 'OPERATIONS.md'), 'utf8')

const LINES = {
  banned: '{"level":40,"time":1796633796274,"service":"flexseat-sip-node","site":"amsterdam","nodeId":"amsterdam-db61877a","source":"127.0.0.2","failures":5,"banSeconds":600,"msg":"sip source banned: too many authentication failures"}',
  register: '{"level":30,"time":1796633796225,"service":"flexseat-sip-node","site":"amsterdam","nodeId":"amsterdam-db61877a","why":"wrong-credentials","source":"127.0.0.2:26173","msg":"register refused"}',
  invite: '{"level":30,"time":1796633796225,"service":"flexseat-sip-node","site":"amsterdam","nodeId":"amsterdam-db61877a","why":"unknown-device","source":"198.51.100.9:5060","callId":"x@y","msg":"invite refused"}',
  registered: '{"level":30,"time":1796633795845,"service":"flexseat-sip-node","site":"amsterdam","nodeId":"amsterdam-db61877a","device":"ams-desk-1","contact":"sip:ams-desk-1@127.0.0.1:26354;transport=UDP","destination":"sip:ams-desk-1@127.0.0.1:26354","expires":3600,"msg":"phone registered"}',
  replay: '{"level":40,"time":1796633795845,"service":"flexseat-sip-node","device":"ams-desk-1","source":"127.0.0.3:5060","msg":"register refused: replayed credentials"}',
}

t.test('the documented failregex lines find the source of bans and refusals, nothing else', async (t) => {
  const filter = /\[Definition\]\nfailregex = (.+)\n((?: {12}.+\n)*)/.exec(OPERATIONS)
  t.ok(filter, 'OPERATIONS.md has the filter')
  const patterns = [filter![1]!, ...filter![2]!.split('\n').map((l) => l.trim()).filter((l) => l !== '')]
  t.equal(patterns.length, 2)
  // fail2ban's <HOST> is an address; Python's \d is JavaScript's.
  const regexes = patterns.map((p) => new RegExp(p.replace('<HOST>', '(?<host>[0-9a-fA-F.:]+?)')))
  const host = (line: string): string | undefined => regexes.map((r) => r.exec(line)?.groups?.['host']).find((h) => h !== undefined)
  t.equal(host(LINES.banned), '127.0.0.2', 'the ban')
  t.equal(host(LINES.register), '127.0.0.2', 'a refused REGISTER')
  t.equal(host(LINES.invite), '198.51.100.9', 'a refused INVITE')
  t.equal(host(LINES.registered), undefined, 'a registered phone is no failure')
  t.equal(host(LINES.replay), undefined, 'nor is a replay (the phone itself may have repeated a count)')
})
