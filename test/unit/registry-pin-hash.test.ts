import t from 'tap'
import { DEFAULT_SCRYPT, hashPin, verifyPin } from '@flexseat/registry'

t.test('a PIN hash is scrypt$N$r$p$salt$hash and verifies only the same PIN', async (t) => {
  const hash = await hashPin('1234')
  t.match(hash, /^scrypt\$16384\$8\$1\$[A-Za-z0-9+/=]{24}\$[A-Za-z0-9+/=]{44}$/, 'the documented format, default cost')
  t.same(DEFAULT_SCRYPT, { N: 16_384, r: 8, p: 1 })
  t.notOk(hash.includes('1234'), 'the PIN is not in the hash')
  t.ok(await verifyPin('1234', hash), 'the right PIN verifies')
  t.notOk(await verifyPin('1235', hash), 'a wrong PIN does not')
  t.notOk(await verifyPin('', hash), 'an empty PIN does not')
  const again = await hashPin('1234')
  t.not(again, hash, 'a fresh salt every time')
  t.ok(await verifyPin('1234', again))
})

t.test('cost parameters travel in the hash', async (t) => {
  const cheap = await hashPin('987654', { N: 1024, r: 8, p: 1 })
  t.match(cheap, /^scrypt\$1024\$8\$1\$/)
  t.ok(await verifyPin('987654', cheap))
})

t.test('malformed hashes match nothing', async (t) => {
  const good = await hashPin('1234', { N: 1024, r: 8, p: 1 })
  const parts = good.split('$')
  for (const bad of [
    '',
    'plain',
    '1234',
    `bcrypt$${parts.slice(1).join('$')}`,
    `scrypt$1000$8$1$${parts[4]}$${parts[5]}`, // N not a power of two
    `scrypt$${2 ** 24}$8$1$${parts[4]}$${parts[5]}`, // absurd cost
    `scrypt$1024$8$1$$${parts[5]}`, // no salt
    `scrypt$1024$8$1$${parts[4]}$AAAA`, // short hash
    parts.slice(0, 5).join('$'),
  ]) {
    t.notOk(await verifyPin('1234', bad), `rejects ${JSON.stringify(bad.slice(0, 30))}`)
  }
})
