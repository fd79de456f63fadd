import { DirectorySyncServiceService, type DirectorySyncServiceServer } from '@flexseat/proto'
import { readHandler, type ServiceContext, writeHandler } from './service-handlers'

/** DirectorySyncService on the registry core: runs on the leader (forwarded), the status on any instance. */
export function directorySyncService(context: ServiceContext): DirectorySyncServiceServer {
  const def = DirectorySyncServiceService
  return {
    syncDirectory: writeHandler(context, 'SyncDirectory', def.syncDirectory, (request, caller, incoming) => {
      const deadline = incoming.deadline === undefined ? undefined : new Date(incoming.deadline).getTime()
      return context.core().syncDirectory(request, caller, Number.isFinite(deadline) ? { deadline: deadline! } : {})
    }),
    getDirectorySyncStatus: readHandler(context, 'GetDirectorySyncStatus', (request, caller) => context.core().getDirectorySyncStatus(request, caller)),
  }
}
