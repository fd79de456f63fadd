/**
 * The drachtio-srf application the SIP engine benchmark drives (run as its own process so its
 * CPU and memory are measured apart from the engine's):
 *   register <controlPort>                 answer every REGISTER 200
 *   proxy <controlPort> <destination-uri>  srf.proxyRequest every INVITE there (Record-Route)
 * Prints `ready` once connected.
 */
import { createSrf } from '../test/helpers/srf'

const [mode, port, destination] = process.argv.slice(2)
const srf = createSrf()
srf.on('error', () => undefined)
if (mode === 'register') {
  srf.register((_req, res) => res.send(200, { headers: { 'X-Registrar': 'flexseat', Expires: '3600' } }))
} else {
  srf.invite((req) => {
    req.proxy({ destination: destination!, remainInDialog: true }).catch(() => undefined)
  })
}
srf.on('connect', () => process.stdout.write('ready\n'))
srf.connect({ host: '127.0.0.1', port: Number(port), secret: 'cymru' })
