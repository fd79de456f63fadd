import t from 'tap'
import { parseCommandLine } from '@flexseat/sip-engine'

// The engine takes its control secret from DRACHTIO_SECRET, as drachtio-server does, so that no
// command line (which `ps` shows every user) carries it; --secret still wins, as there.
t.test('DRACHTIO_SECRET gives the control secret; --secret wins over it', async (t) => {
  t.equal(parseCommandLine([], {}).config.secret, 'cymru', "drachtio's default without either")
  t.equal(parseCommandLine([], { DRACHTIO_SECRET: 'from-env' }).config.secret, 'from-env', 'from the environment')
  t.equal(parseCommandLine(['--secret', 'from-flag'], { DRACHTIO_SECRET: 'from-env' }).config.secret, 'from-flag', 'the flag wins')
  t.equal(parseCommandLine([], { DRACHTIO_SECRET: '' }).config.secret, 'cymru', 'an empty variable is no secret')
})
