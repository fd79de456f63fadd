/**
 * Administrators' reports (an administrator's session): the occupancy of a branch over a period
 * (ReportService.GetOccupancyReport, made with the administrator's session). The page draws its
 * chart from this JSON itself (web/occupancy.tsx). Bad dates, an unknown site or a period past the
 * history's retention are the registry's to judge: its INVALID_ARGUMENT comes back naming the
 * field (`site_id`, `from`, `to`).
 */
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'
import type { FastifyPluginAsync } from 'fastify'
import { ErrorView, OccupancyView, occupancyView } from '../views'
import { fail, type RouteOptions, sessionOf } from './route-options'

const Errors = { '4xx': ErrorView, '5xx': ErrorView }
const Query = Type.Object({ site: Type.String({ maxLength: 64 }), from: Type.String({ maxLength: 10 }), to: Type.String({ maxLength: 10 }) }, { additionalProperties: false })

export const reportRoutes: FastifyPluginAsync<RouteOptions> = async (fastify, options) => {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>()
  const { registry, guard } = options
  const preHandler = guard.require('admin')

  app.get('/api/admin/reports/occupancy', { preHandler, schema: { querystring: Query, response: { 200: OccupancyView, ...Errors } } }, async (request, reply) => {
    try {
      const { site, from, to } = request.query
      // A report reads a quarter's history: more time than a lookup.
      const res = await registry.as(sessionOf(request).token).call((c) => c.reports.getOccupancyReport.bind(c.reports), { siteId: site, from, to }, 30_000)
      return occupancyView(res)
    } catch (error) {
      return fail(request, reply, guard, error)
    }
  })
}
