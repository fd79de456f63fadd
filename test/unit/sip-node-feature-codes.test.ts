// Feature codes dialled at a phone: parsing with the site's codes, percent-escaped stars, what
// counts as malformed, and masking for logs (the PIN never survives).
import t from 'tap'
import { maskFeatureCode, maskUri, parseFeatureCode, uriUser } from '@flexseat/sip-node'
// Not (yet) exported by the package's index.ts.
import { dialledNumber } from '@flexseat/sip-node/dist/feature-codes'

const codes = { login: '*51', changePin: '*52' }

t.test('sign in, sign out, change PIN', async (t) => {
  t.same(parseFeatureCode('*51*1001*4711', codes), { kind: 'login', extension: '1001', pin: '4711' })
  t.same(parseFeatureCode('*51', codes), { kind: 'logout' })
  t.same(parseFeatureCode('*52*4711*123456', codes), { kind: 'change-pin', oldPin: '4711', newPin: '123456' })
  t.same(parseFeatureCode('%2A51%2A1001%2A4711', codes), { kind: 'login', extension: '1001', pin: '4711' }, '%2A escaping')
  t.same(parseFeatureCode('%2a51*1001%2a4711', codes), { kind: 'login', extension: '1001', pin: '4711' }, 'mixed, lower-case escapes')
  t.same(parseFeatureCode('%2A51', codes), { kind: 'logout' })
  t.same(parseFeatureCode('*51*1001*4711#', codes), { kind: 'login', extension: '1001', pin: '4711' }, 'a trailing # is ignored')
  t.same(parseFeatureCode('*51%23', codes), { kind: 'logout' })
  t.same(parseFeatureCode('*51*123456789012345*123456789012', codes), { kind: 'login', extension: '123456789012345', pin: '123456789012' }, 'longest extension and PIN')
})

t.test('malformed codes are feature codes all the same (never a call)', async (t) => {
  for (const user of ['*51*', '*51*1001', '*51*1001*', '*51**4711', '*51*1001*47', '*51*1001*4711*9', '*51*10a1*4711', '*51*1*4711', '*511001*4711', '*51*1001*1234567890123', '*51*1234567890123456*4711']) {
    t.same(parseFeatureCode(user, codes), { kind: 'malformed', feature: 'login' }, user)
  }
  for (const user of ['*52', '*52*', '*52*4711', '*52*4711*', '*52*47*4711', '*52*4711*12', '*52*4711*1234*5']) {
    t.same(parseFeatureCode(user, codes), { kind: 'malformed', feature: 'change-pin' }, user)
  }
})

t.test('not feature codes', async (t) => {
  for (const user of ['1001', '112', '0301234567', '*5', '*50*1001*4711', '51*1001*4711', '', '%ZZ51']) {
    t.equal(parseFeatureCode(user, codes), undefined, JSON.stringify(user))
  }
})

t.test("a site's own codes", async (t) => {
  const site = { login: '#7', changePin: '#77' }
  t.same(parseFeatureCode('#7*1001*4711', site), { kind: 'login', extension: '1001', pin: '4711' })
  t.same(parseFeatureCode('#77*4711*8888', site), { kind: 'change-pin', oldPin: '4711', newPin: '8888' }, 'the longer code wins when one is a prefix of the other')
  t.same(parseFeatureCode('#7', site), { kind: 'logout' })
  t.equal(parseFeatureCode('*51*1001*4711', site), undefined, 'the default codes mean nothing here')
})

t.test('masking for logs', async (t) => {
  t.equal(maskFeatureCode('*51*1001*4711', codes), '*51*1001*****')
  t.equal(maskFeatureCode('*51*1001*123456789', codes), '*51*1001*****', 'the mask does not tell the length')
  t.equal(maskFeatureCode('%2A51%2A1001%2A4711', codes), '*51*1001*****')
  t.equal(maskFeatureCode('*52*4711*8888', codes), '*52*' + '****' + '*' + '****')
  t.equal(maskFeatureCode('*51', codes), '*51')
  t.equal(maskFeatureCode('*51*1001*47', codes), '*51*****', 'malformed: everything after the code')
  t.equal(maskFeatureCode('1001', codes), '1001', 'numbers pass')
  const masked = maskUri('sip:*51*1001*4711@amsterdam.flexseat.test;user=phone', codes)
  t.equal(masked, 'sip:*51*1001*****@amsterdam.flexseat.test;user=phone')
  t.notMatch(masked, /4711/)
  t.notMatch(maskUri('sip:%2A52%2A4711%2A9999@x', codes), /4711|9999/)
  t.equal(maskUri('sip:1001@x', codes), 'sip:1001@x')
})

t.test('uriUser', async (t) => {
  t.equal(uriUser('sip:1001@example.com'), '1001')
  t.equal(uriUser('sips:*51*1001*4711@example.com:5061;transport=tls'), '*51*1001*4711')
  t.equal(uriUser('<sip:desk-1@10.0.0.1>'), 'desk-1')
  t.equal(uriUser('sip:example.com'), '', 'no user part')
  t.equal(uriUser('sip:example.com;transport=tcp'), '')
  t.equal(uriUser('tel:+4930123'), '+4930123')
  t.equal(uriUser('mailto:x@y'), '')
  t.equal(uriUser('sip:112;phone-context=+31@amsterdam.flexseat.test;user=phone'), '112;phone-context=+31', 'telephone-subscriber parameters belong to the user part')
  t.equal(uriUser('<sip:112;phone-context=amsterdam.flexseat.test@10.0.0.1:5060>'), '112;phone-context=amsterdam.flexseat.test')
  t.equal(uriUser('tel:112;phone-context=+31'), '112')
  t.equal(uriUser('sip:example.com?subject=a@b'), '', "an '@' in URI headers is no user part")
})

t.test('dialledNumber: the number before any parameter, decoded, without a trailing #', async (t) => {
  t.equal(dialledNumber('112'), '112')
  t.equal(dialledNumber('112#'), '112')
  t.equal(dialledNumber('112%23'), '112')
  t.equal(dialledNumber('112;phone-context=+31'), '112')
  t.equal(dialledNumber('112#;phone-context=+31'), '112')
  t.equal(dialledNumber('%2A51%2A1001%2A4711'), '*51*1001*4711')
  t.equal(dialledNumber('0123%3Bmaddr=x'), '0123;maddr=x', 'an escaped ; is data')
  t.equal(dialledNumber('%ZZ'), undefined)
  t.same(parseFeatureCode(uriUser('sip:*51;phone-context=x@d'), codes), { kind: 'logout' }, 'feature codes with parameters')
})
