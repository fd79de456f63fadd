/**
 * A phone that never ACKs the application's 200: after 64*T1 the engine ends the call with a BYE
 * carrying drachtio-server's `Reason: SIP;cause=200;text="ACK timeout"`, and the application's
 * dialog is destroyed with the reason drachtio-srf takes from it, `ACK timeout`. Real sipp over
 * UDP and TCP, in parallel; on both engines (twin in test/drachtio-server/).
 *
 * The embedded engine runs with T1 = 100 ms (`--sip-t1`): its BYE comes after 6.4 s instead of
 * 32 s. drachtio-server has no such flag, and its configuration file does not help: it reads
 * `<sip><timers><t1>100</t1><t1x64>6400</t1x64></timers>` (it logs the values at
 * `--loglevel debug`), yet its no-ACK BYE still came after 32 s (measured 2026-12-07, v0.9.10).
 * So the twin outwaits the default Timer H, hence its longer timeout.
 * @see RFC 3261 §13.3.1.4, RFC 3326
 */
import t from 'tap'
import { connectSrf, deadline, REAL_DRACHTIO, startEngine } from '../helpers/sip-engine'
import { runSipp, type SippTransport } from '../helpers/sipp'

// drachtio-server's 32 s are more than tap's 30 s per file
if (REAL_DRACHTIO) t.setTimeout(75_000)

t.test('no ACK for the 200: BYE with Reason "ACK timeout"; the dialog is destroyed with that reason', async (t) => {
  const engine = await startEngine(t, { engineArgs: ['--sip-t1', '100'] })
  const srf = await connectSrf(t, engine)
  const reasons: string[] = []
  const destroyed = new Promise<void>((resolve) => {
    srf.invite(async (req, res) => {
      const dlg = await srf.createUAS(req, res, { localSdp: 'v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 40000 RTP/AVP 0\r\n' })
      dlg.on('destroy', (_bye, reason) => {
        reasons.push(reason ?? '')
        if (reasons.length === 2) resolve()
      })
    })
  })
  const runs = await Promise.all((['udp', 'tcp'] as SippTransport[]).map((transport) => runSipp(t, { scenario: 'uac-invite-never-ack.xml', transport, remote: `127.0.0.1:${engine.sipPort}`, timeoutSec: REAL_DRACHTIO ? 50 : 20 })))
  for (const [i, r] of runs.entries()) t.equal(r.code, 0, `the phone (${i === 0 ? 'udp' : 'tcp'}) got the BYE with the Reason`, { stderr: r.stderr })
  await deadline(destroyed, 5000, 'both dialogs destroyed')
  t.same(reasons, ['ACK timeout', 'ACK timeout'], "drachtio-srf's destroy reason")
})
