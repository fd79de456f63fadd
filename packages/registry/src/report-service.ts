import type { ReportServiceServer } from '@flexseat/proto'
import { readHandler, type ServiceContext } from './service-handlers'

/**
 * ReportService on the registry core: reports answered by this instance from the seat history
 * (occupancy-report.ts). Administrators only (auth.ts: no other role lists GetOccupancyReport).
 */
export function reportService(context: ServiceContext): ReportServiceServer {
  return {
    getOccupancyReport: readHandler(context, 'GetOccupancyReport', (request, caller) => context.core().getOccupancyReport(request, caller)),
  }
}
