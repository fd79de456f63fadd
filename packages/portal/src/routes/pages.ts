/**
 * The front end (web/, bundled by scripts/build-web.mjs into dist/public): `/` is the workers'
 * page, `/admin` the administrators', both the same HTML and script; `/assets/` the bundle. Nothing
 * is fetched from anywhere else (the Content-Security-Policy says so too).
 */
import { join } from 'node:path'
import fastifyStatic from '@fastify/static'
import type { FastifyPluginAsync } from 'fastify'

/** Where the built front end is: dist/public beside this package's compiled files. */
export const PUBLIC_DIR = join(__dirname, '..', 'public')

export const pageRoutes: FastifyPluginAsync<{ root?: string }> = async (fastify, options) => {
  await fastify.register(fastifyStatic, { root: options.root ?? PUBLIC_DIR, prefix: '/assets/', index: false, cacheControl: false, setHeaders: (reply) => void reply.header('cache-control', 'no-cache') })
  for (const url of ['/', '/admin']) {
    fastify.get(url, async (_request, reply) => reply.header('cache-control', 'no-cache').sendFile('index.html'))
  }
}
