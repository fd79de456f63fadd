// The busy lamps' pure parts: the dialog-info body (RFC 4235), the node's view of the dialogs in
// progress (a snapshot replaces it, a change replaces a party), and a pickup's Replaces, pickup
// code and SDP answers (RFC 3891, RFC 3264 §6).
import t from 'tap'
import { CallDirection, DialogState } from '@flexseat/proto'
import { answerFrom, deviceKey, dialogInfo, DialogView, parsePickupCode, parseReplaces, standInTag, userKey } from '@flexseat/sip-node'

t.test('dialog-info: full state, the call named as a pickup needs it, XML escaped', async (t) => {
  const body = dialogInfo('sip:1001@ams.test', 3, [{ callId: 'c1@x', state: 'early', direction: 'recipient', callerTag: 'ft1', other: { number: '2103', name: 'A & "B"' } }], 'ams.test')
  t.match(body, /<dialog-info xmlns="urn:ietf:params:xml:ns:dialog-info" version="3" state="full" entity="sip:1001@ams.test">/)
  t.match(body, new RegExp(`<dialog id="in-c1@x" call-id="c1@x" local-tag="${standInTag('c1@x')}" remote-tag="ft1" direction="recipient">`), "the caller's tag is the remote tag of a call received")
  t.match(body, /<state>early<\/state>/)
  t.match(body, /<identity display="A &amp; &quot;B&quot;">sip:2103@ams.test<\/identity>/, 'the caller, escaped')
  const out = dialogInfo('sip:1001@ams.test', 0, [{ callId: 'c2', state: 'confirmed', direction: 'initiator', callerTag: 'ft2' }], 'ams.test')
  t.match(out, /local-tag="ft2" remote-tag="fs[0-9a-f]{12}" direction="initiator"/, 'its own tag is the local tag of a call placed')
  t.notMatch(out, /<remote>/, 'no other party when withheld')
  t.notMatch(dialogInfo('sip:1@x', 0, [], 'x'), /<dialog /, 'idle: no dialog')
})

t.test('the dialog view: a snapshot replaces, a change replaces a party, every changed key told', async (t) => {
  const view = new DialogView()
  const told: string[][] = []
  view.on('changes', (keys) => told.push(keys))
  const dialog = (callId: string, state = DialogState.DIALOG_STATE_EARLY) => ({ callId, state, direction: CallDirection.CALL_DIRECTION_INCOMING, siteId: 'berlin', deviceId: 'ber-1', callerTag: 't', otherParty: '2', otherPartyName: '', since: new Date(0) })
  view.apply({ snapshot: true, revision: '5', parties: [{ userId: 'ada', deviceId: '', dialogs: [dialog('c1')] }] })
  t.ok(view.ready)
  t.equal(view.ringingFor(userKey('ada'))?.callId, 'c1')
  t.equal(view.ringingDesk('c1'), 'ber-1', 'where c1 rings')
  view.apply({ snapshot: false, revision: '6', parties: [{ userId: '', deviceId: 'ber-1', dialogs: [dialog('c1', DialogState.DIALOG_STATE_CONFIRMED)] }, { userId: 'ada', deviceId: '', dialogs: [] }] })
  t.same(view.dialogs(userKey('ada')), [], 'ada idle')
  t.equal(view.dialogs(deviceKey('ber-1')).length, 1)
  t.equal(view.ringingDesk('c1'), undefined, 'answered: rings nowhere')
  view.apply({ snapshot: true, revision: '9', parties: [] })
  t.same(told, [[userKey('ada')], [deviceKey('ber-1'), userKey('ada')], [deviceKey('ber-1')]], 'a snapshot tells what it dropped')
})

t.test('pickup: Replaces, the pickup code, answers from the other offer', async (t) => {
  t.same(parseReplaces('abc@x;to-tag=1;from-tag=2;early-only'), { callId: 'abc@x', toTag: '1', fromTag: '2', earlyOnly: true })
  t.equal(parseReplaces('abc@x;to-tag=1'), undefined, 'both tags are required')
  t.equal(parseReplaces(';to-tag=1;from-tag=2'), undefined, 'a Call-ID is required')
  t.equal(parsePickupCode('**1001'), '1001')
  t.equal(parsePickupCode('*51'), undefined)
  const caller = 'v=0\r\no=a 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0 8 101\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\n'
  const picker = 'v=0\r\no=b 2 2 IN IP4 10.0.0.2\r\ns=-\r\nc=IN IP4 10.0.0.2\r\nt=0 0\r\nm=audio 5000 RTP/AVP 8 9 96\r\na=rtpmap:96 telephone-event/8000\r\n'
  const toCaller = answerFrom(caller, picker)!
  t.match(toCaller, /c=IN IP4 10\.0\.0\.2/, "the caller is answered with the picker's address")
  t.match(toCaller, /m=audio 5000 RTP\/AVP 8 101\r\n/, 'only the formats the caller offered, numbered as the caller did')
  t.match(toCaller, /a=rtpmap:101 telephone-event\/8000/)
  t.match(answerFrom(picker, caller)!, /m=audio 4000 RTP\/AVP 8 96\r\n/, "and the picker with the caller's")
  t.equal(answerFrom(caller, picker.replace('8 9 96', '9')), undefined, 'nothing in common: no answer (488)')
  t.equal(answerFrom(caller, `${picker}m=video 6000 RTP/AVP 31\r\n`), undefined, 'two media lines: no answer')
})
