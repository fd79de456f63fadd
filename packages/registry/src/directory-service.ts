import { DirectoryServiceService, type DirectoryServiceServer } from '@flexseat/proto'
import { readHandler, type ServiceContext, writeHandler } from './service-handlers'
import { mustBeSelf } from './session-scope'
import { mayReadAt, mustActFor } from './site-scope'

/** DirectoryService on the registry core: reads here, writes on the leader. */
export function directoryService(context: ServiceContext): DirectoryServiceServer {
  const def = DirectoryServiceService
  return {
    createUser: writeHandler(context, 'CreateUser', def.createUser, (request, caller) => context.core().createUser(request, caller)),
    updateUser: writeHandler(context, 'UpdateUser', def.updateUser, (request, caller) => context.core().updateUser(request, caller)),
    deleteUser: writeHandler(context, 'DeleteUser', def.deleteUser, (request, caller) => context.core().deleteUser(request, caller)),
    // A worker's portal session reads its own worker only (session-scope.ts).
    getUser: readHandler(context, 'GetUser', (request, caller) => {
      mustBeSelf(caller, request.key, 'reads the record')
      return context.core().getUser(request, caller)
    }),
    listUsers: readHandler(context, 'ListUsers', (request, caller) => context.core().listUsers(request, caller)),
    changePin: writeHandler(context, 'ChangePin', def.changePin, (request, caller) => context.core().changePin(request, caller)),
    resetPin: writeHandler(context, 'ResetPin', def.resetPin, (request, caller) => context.core().resetPin(request, caller)),
    unlockUser: writeHandler(context, 'UnlockUser', def.unlockUser, (request, caller) => context.core().unlockUser(request, caller)),
    clearLockout: writeHandler(context, 'ClearLockout', def.clearLockout, (request, caller) => context.core().clearLockout(request, caller)),
    createDevice: writeHandler(context, 'CreateDevice', def.createDevice, (request, caller) => context.core().createDevice(request, caller)),
    updateDevice: writeHandler(context, 'UpdateDevice', def.updateDevice, (request, caller) => context.core().updateDevice(request, caller)),
    deleteDevice: writeHandler(context, 'DeleteDevice', def.deleteDevice, (request, caller) => context.core().deleteDevice(request, caller)),
    // A provisioning service reads only its own site's phones (site-scope.ts).
    getDevice: readHandler(context, 'GetDevice', async (request, caller) => {
      const response = await context.core().getDevice(request, caller)
      mayReadAt(caller, response.device?.siteId ?? '')
      return response
    }),
    listDevices: readHandler(context, 'ListDevices', (request, caller) => context.core().listDevices(request, caller)),
    // A SIP node or provisioning service reads only its own site's phones' HA1 (site-scope.ts).
    getDeviceCredentials: readHandler(context, 'GetDeviceCredentials', async (request, caller) => {
      const credentials = await context.core().getDeviceCredentials(request, caller)
      mustActFor(caller, credentials.siteId)
      return credentials
    }),
    createSite: writeHandler(context, 'CreateSite', def.createSite, (request, caller) => context.core().createSite(request, caller)),
    updateSite: writeHandler(context, 'UpdateSite', def.updateSite, (request, caller) => context.core().updateSite(request, caller)),
    deleteSite: writeHandler(context, 'DeleteSite', def.deleteSite, (request, caller) => context.core().deleteSite(request, caller)),
    getSite: readHandler(context, 'GetSite', async (request, caller) => {
      mayReadAt(caller, request.siteId)
      return context.core().getSite(request, caller)
    }),
    listSites: readHandler(context, 'ListSites', (request, caller) => context.core().listSites(request, caller)),
    setFunctionKeyProfile: writeHandler(context, 'SetFunctionKeyProfile', def.setFunctionKeyProfile, (request, caller) => context.core().setFunctionKeyProfile(request, caller)),
    deleteFunctionKeyProfile: writeHandler(context, 'DeleteFunctionKeyProfile', def.deleteFunctionKeyProfile, (request, caller) =>
      context.core().deleteFunctionKeyProfile(request, caller),
    ),
    getFunctionKeyProfile: readHandler(context, 'GetFunctionKeyProfile', (request, caller) => context.core().getFunctionKeyProfile(request, caller)),
    listFunctionKeyProfiles: readHandler(context, 'ListFunctionKeyProfiles', (request, caller) => context.core().listFunctionKeyProfiles(request, caller)),
  }
}
