#!/usr/bin/env node
// Container health check of a registry: calls grpc.health.v1.Health/Check (service "") on the
// given address (default 127.0.0.1:50051) and exits 0 only when the answer is SERVING.
// The runtime image has no grpc_health_probe binary; grpc-js and the health service definition
// are already in its node_modules (dependencies of @flexseat/registry).
'use strict'
const grpc = require('@grpc/grpc-js')
const { service } = require('grpc-health-check')

const target = process.argv[2] || '127.0.0.1:50051'
const Health = grpc.makeGenericClientConstructor(service, 'Health')
const client = new Health(target, grpc.credentials.createInsecure())
client.Check({ service: '' }, { deadline: Date.now() + 3000 }, (error, response) => {
  client.close()
  if (error) {
    process.stderr.write(`health check of ${target} failed: ${error.message}\n`)
    process.exit(1)
  }
  const status = response && response.status
  process.stdout.write(`${target}: ${status}\n`)
  process.exit(status === 'SERVING' || status === 1 ? 0 : 1)
})
