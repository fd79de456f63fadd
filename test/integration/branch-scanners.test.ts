// Scanners (SIPVicious' svmap/svwar/svcrack, sipcli) are dropped without an answer by the branch's
// embedded engine, as the simulation starts it for a site whose sip_security.drop_scanners is on
// (the default): sipp sends OPTIONS and REGISTER with a scanner's User-Agent (any case) and hears
// nothing, while the same requests with a phone's User-Agent are answered. drachtio-server has no
// silent drop (its <spammers> section answers 603 Decline: docs/ENGINES.md), so this file has no
// twin.
import t from 'tap'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Branches } from '../helpers/branches'
import { parseSippTrace, runSipp } from '../helpers/sipp'

// A branch (etcd, registry, engine, node) starts in 10-20 s on a loaded machine, as in
// branch-register-replay.test.ts.
t.setTimeout(60_000)

const SITE = 'amsterdam'

// Guard tried: SipEngine.isScanner() answering false: the scanners' requests are answered.
t.test("a scanner's requests get no answer; a phone's do", async (t) => {
  const branches = await Branches.start(t, { sites: [SITE] })
  const remote = branches.phone(SITE, 'ams-desk-1').registrar
  const dir = await mkdtemp(join(tmpdir(), 'flexseat-scanners-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const received = async (scenario: string, agent: string, name: string): Promise<(number | undefined)[]> => {
    const trace = join(dir, `${name}.log`)
    await runSipp(t, { scenario, transport: 'udp', remote, timeoutSec: 3, args: ['-s', 'ams-desk-1', '-au', 'ams-desk-1', '-ap', 'wrong', '-key', 'user_agent', agent, '-trace_msg', '-message_file', trace] })
    return parseSippTrace(await readFile(trace, 'utf8').catch(() => '')).filter((m) => m.direction === 'received').map((m) => m.status)
  }
  const [phoneOptions, phoneRegister, ...scanners] = await Promise.all([
    received('options-agent.xml', 'Yealink SIP-T54W 96.86.0.100', 'phone-options'),
    received('register-guess.xml', 'Yealink SIP-T54W 96.86.0.100', 'phone-register'),
    received('options-agent.xml', 'friendly-scanner', 'svmap'),
    received('register-guess.xml', 'Friendly-Scanner', 'svwar'),
    received('options-agent.xml', 'sipvicious 0.3.4', 'sipvicious'),
    received('register-guess.xml', 'SIPCLI/v1.8', 'sipcli'),
  ])
  t.same(phoneOptions, [200], "a phone's OPTIONS is answered")
  t.same(phoneRegister, [401, 403], "a phone's REGISTER is challenged (and its wrong password refused)")
  t.same(scanners, [[], [], [], []], 'friendly-scanner, Friendly-Scanner, sipvicious, SIPCLI: nothing comes back')
})
