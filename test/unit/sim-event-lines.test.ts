import t from 'tap'
import { eventLineOf, parseLogLine } from '@flexseat/sim'

// The quiet terminal of `npm start`: one human line per event that matters, nothing for the rest.
const line = (record: Record<string, unknown>) => parseLogLine(JSON.stringify({ level: 30, time: 1, ...record }))

t.test('the events that matter become one line each', async (t) => {
  t.same(eventLineOf('sip-node', line({ msg: 'feature code', device: 'amsterdam-desk-1', dialled: 'sip:*51*1001*****@amsterdam.example', status: 480, reason: 'Signed in as 1001' })), {
    text: 'amsterdam-desk-1 dialled *51*1001***** → 480 Signed in as 1001',
    error: false,
  })
  t.equal(eventLineOf('sip-node', line({ msg: 'seat revoked', user: 'ada', device: 'amsterdam-desk-1', reason: 'moved', delayMs: 37 }))?.text, 'ada no longer seated at amsterdam-desk-1 (moved), 37 ms after the registry committed the move')
  t.equal(eventLineOf('sip-node', line({ msg: 'seat revoked', user: 'ada', device: 'amsterdam-desk-1', reason: 'logout' }))?.text, 'ada no longer seated at amsterdam-desk-1 (logout)')
  t.match(eventLineOf('sip-node', line({ level: 40, msg: 'lease suspended', reason: 'renewal failed' }))?.text, /^confirmation lease lost \(renewal failed\)/)
  t.match(eventLineOf('sip-node', line({ msg: 'lease active' }))?.text, /^confirmation lease active/)
  t.equal(eventLineOf('registry', line({ msg: 'elected leader' }))?.text, 'elected leader of the registries')
  t.equal(eventLineOf('registry', line({ level: 40, msg: 'lost leadership', reason: 'lease lost' }))?.text, 'lost the leadership (lease lost)')
  t.equal(eventLineOf('registry', line({ msg: 'signed in', user: 'ada', device: 'berlin-desk-2', at: 'berlin', via: 'admin', pendingOn: 'amsterdam' }))?.text, 'ada signed in at berlin-desk-2 (admin), waiting for amsterdam to let go')
  t.equal(eventLineOf('registry', line({ msg: 'signed in', via: 'phone' })), undefined, 'a phone sign-in is the node\'s feature code line')
  t.match(eventLineOf('registry', line({ level: 40, msg: 'worker locked out after too many wrong PINs', user: 'ada', device: 'd1', until: 'T' }))?.text, /^worker ada locked out until T/)
  t.same(eventLineOf('sip-engine', line({ level: 50, msg: 'boom', err: { message: 'bad thing' } })), { text: 'ERROR boom: bad thing', error: true })
})

t.test('everything else stays in the log files', async (t) => {
  t.equal(eventLineOf('sip-node', line({ msg: 'phone registered', device: 'x' })), undefined)
  t.equal(eventLineOf('registry', line({ msg: 'registry listening' })), undefined)
  t.equal(eventLineOf('registry', line({ level: 40, msg: 'write failed' })), undefined, 'a warning is not an event')
  t.equal(eventLineOf('etcd', parseLogLine('{"level":"error","msg":"peer became inactive"}')), undefined, "etcd's own errors are peer churn")
  t.equal(eventLineOf('sip-node', parseLogLine('not json')), undefined)
})
