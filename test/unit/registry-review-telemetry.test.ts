// startTelemetry, in a child process started the way the services start (telemetry first, then
// @grpc/grpc-js): with OTEL_TRACES_EXPORTER=console a gRPC call is traced (client and server
// spans on stdout, without the bearer token); with nothing configured no OpenTelemetry module is
// even loaded and the exporter variables are written as `none`.
import t from 'tap'
import { execFile } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { join } from 'node:path'
import { promisify } from 'node:util'

const run = promisify(execFile)
const REPO_ROOT = join(__dirname, '..', '..')

// Plain JS run with `node -e` from the repository root, so that the workspace packages resolve.
const PROBE = `
const { startTelemetry } = require('@flexseat/telemetry')
const stop = startTelemetry('telemetry-probe')
const grpc = require('@grpc/grpc-js')
const { ClusterServiceService, ClusterServiceClient, GetClusterStatusResponse, bearer } = require('@flexseat/proto')
;(async () => {
  const server = new grpc.Server()
  server.addService(ClusterServiceService, { getClusterStatus: (_call, cb) => cb(null, GetClusterStatusResponse.fromPartial({})) })
  const port = await new Promise((res, rej) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? rej(e) : res(p))))
  const client = new ClusterServiceClient('127.0.0.1:' + port, grpc.credentials.createInsecure())
  await new Promise((res, rej) => client.getClusterStatus({}, bearer(process.env.PROBE_TOKEN), (e, r) => (e ? rej(e) : res(r))))
  client.close()
  await stop(5000)
  server.forceShutdown()
  // The API (@opentelemetry/api) is the no-op facade every instrument and span goes through: always loaded.
  const loaded = Object.keys(require.cache).filter((k) => k.includes('node_modules/@opentelemetry/') && !k.includes('node_modules/@opentelemetry/api/'))
  process.stdout.write('\\nPROBE ' + JSON.stringify({ otelModules: loaded.length, traces: process.env.OTEL_TRACES_EXPORTER, service: process.env.OTEL_SERVICE_NAME }) + '\\n')
})().catch((error) => {
  process.stderr.write(String(error && error.stack || error))
  process.exit(1)
})
`

async function probe(otel: Record<string, string>): Promise<{ stdout: string; result: { otelModules: number; traces: string; service: string }; token: string }> {
  const inherited = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('OTEL_')))
  const token = randomBytes(24).toString('hex')
  // The token is also on the command line, as the SIP engine's --secret is: the SDK's default
  // resource would record it (process.command_args); startTelemetry leaves the command line out.
  const { stdout } = await run(process.execPath, ['-e', PROBE, '--', '--secret', token], { cwd: REPO_ROOT, env: { ...inherited, ...otel, PROBE_TOKEN: token }, timeout: 20_000 })
  const line = stdout.split('\n').find((l) => l.startsWith('PROBE '))
  if (line === undefined) throw new Error(`the probe printed no result: ${stdout.slice(-500)}`)
  return { stdout, result: JSON.parse(line.slice('PROBE '.length)), token }
}

t.test('OTEL_TRACES_EXPORTER=console: a gRPC call produces client and server spans', async (t) => {
  const { stdout, result, token } = await probe({ OTEL_TRACES_EXPORTER: 'console' })
  const spans = stdout.match(/name: 'grpc\.flexseat\.v1\.ClusterService\/GetClusterStatus'/g) ?? []
  t.equal(spans.length, 2, 'two spans for the call (client and server)')
  t.match(stdout, /instrumentation-grpc/, 'recorded by the gRPC instrumentation')
  t.match(stdout, /'service\.name': 'telemetry-probe'/, 'OTEL_SERVICE_NAME defaults to the service name')
  t.notOk(stdout.includes(token), 'the token (bearer metadata and command line) is not in any span')
  t.match(stdout, /'process\.pid': \d+/, 'the process is still described')
  t.ok(result.otelModules > 0, 'the SDK was loaded')
  t.equal(result.traces, 'console')
})

t.test('nothing configured: no exporter, no SDK loaded, defaults written to the environment', async (t) => {
  const { stdout, result } = await probe({})
  t.notMatch(stdout, /grpc\.flexseat\.v1\.ClusterService/, 'no span is printed')
  t.equal(result.otelModules, 0, 'no @opentelemetry module but the API is loaded')
  t.equal(result.traces, 'none', 'OTEL_TRACES_EXPORTER is written as none')
  t.equal(result.service, 'telemetry-probe', 'OTEL_SERVICE_NAME is written')
})
