#!/usr/bin/env node
// Bundles the portal's front end (web/) into dist/public with esbuild: app.js (preact included),
// app.css and index.html. Nothing is fetched at run time: the bundle is all the page loads.
import { copyFile, mkdir } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { build } from 'esbuild'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const out = join(root, 'dist', 'public')
await mkdir(out, { recursive: true })
await build({
  entryPoints: { app: join(root, 'web', 'main.tsx') },
  bundle: true,
  format: 'esm',
  target: ['es2022'],
  jsx: 'automatic',
  jsxImportSource: 'preact',
  minify: true,
  sourcemap: true,
  legalComments: 'linked',
  outdir: out,
  logLevel: 'warning',
})
await build({ entryPoints: { app: join(root, 'web', 'styles.css') }, bundle: true, minify: true, outdir: out, logLevel: 'warning' })
await copyFile(join(root, 'web', 'index.html'), join(out, 'index.html'))
