#!/usr/bin/env node
// Completes package-lock.json with the platform packages of @bufbuild/buf that the npm registry
// mirror of our CI machines does not serve (darwin, win32, linux-armv7). npm records only the
// optional dependencies it could fetch, and `npm ci` then refuses the lock as out of sync. The
// added entries carry os/cpu, so npm skips them on other platforms and fetches them where they
// apply. Run it after any `npm install` that rewrote the lock: `node scripts/complete-lockfile.js`.
'use strict'
const { readFileSync, writeFileSync } = require('node:fs')
const { join } = require('node:path')

const lockPath = join(__dirname, '..', 'package-lock.json')
const lock = JSON.parse(readFileSync(lockPath, 'utf8'))
const PLATFORMS = { 'darwin-arm64': ['darwin', 'arm64'], 'darwin-x64': ['darwin', 'x64'], 'linux-aarch64': ['linux', 'arm64'], 'linux-armv7': ['linux', 'arm'], 'linux-x64': ['linux', 'x64'], 'win32-arm64': ['win32', 'arm64'], 'win32-x64': ['win32', 'x64'] }

let added = 0
for (const [path, entry] of Object.entries(lock.packages)) {
  if (!/(^|\/)node_modules\/@bufbuild\/buf$/.test(path)) continue
  for (const [name, version] of Object.entries(entry.optionalDependencies ?? {})) {
    const key = `${path.slice(0, -'@bufbuild/buf'.length)}${name}`
    const platform = PLATFORMS[name.replace('@bufbuild/buf-', '')]
    if (lock.packages[key] !== undefined || platform === undefined) continue
    lock.packages[key] = { version, cpu: [platform[1]], dev: entry.dev, license: entry.license, optional: true, os: [platform[0]], engines: { node: '>=12' } }
    added += 1
  }
}
const sorted = Object.fromEntries(Object.entries(lock.packages).sort(([a], [b]) => (a === '' ? -1 : b === '' ? 1 : a < b ? -1 : a > b ? 1 : 0)))
lock.packages = sorted
writeFileSync(lockPath, `${JSON.stringify(lock, null, 2)}\n`)
console.log(`package-lock.json: added ${added} platform entr${added === 1 ? 'y' : 'ies'}`)
