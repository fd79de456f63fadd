import type { ClusterServiceServer } from '@flexseat/proto'
import { readHandler, type ServiceContext } from './service-handlers'

/** ClusterService on the registry core: answered by this instance. */
export function clusterService(context: ServiceContext): ClusterServiceServer {
  return {
    getClusterStatus: readHandler(context, 'GetClusterStatus', (request, caller) => context.core().getClusterStatus(request, caller)),
  }
}
