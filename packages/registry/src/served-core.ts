import type * as p from '@flexseat/proto'
import type { Caller } from './caller'
import type { LeaderInfo } from './leadership'
import type { PinCheck } from './pin-check'

/**
 * What the gRPC layer needs of the registry core (RegistryCore satisfies it). Writes run only on
 * the leader (else RegistryError NOT_LEADER); reads and the seat stream on any instance.
 */
export interface ServedCore {
  readonly isLeader: boolean
  currentLeader(): Promise<LeaderInfo | undefined>
  healthy(): boolean
  on(event: 'leadership', listener: (leader: boolean) => void): unknown
  off(event: 'leadership', listener: (leader: boolean) => void): unknown

  /** `options.deadline`: the call's deadline (ms since epoch), which bounds a login's wait for a pending seat. */
  login(request: p.LoginRequest, caller: Caller, options?: { deadline?: number }): Promise<p.LoginResponse>
  /** Checks a phone login's PIN here, for the leader (undefined: nothing to check, or could not). */
  checkPin(request: p.LoginRequest): Promise<PinCheck | undefined>
  logout(request: p.LogoutRequest, caller: Caller): Promise<p.LogoutResponse>
  renewSeat(request: p.RenewSeatRequest, caller: Caller): Promise<p.RenewSeatResponse>
  /** The occupancy report (occupancy-report.ts); any instance. */
  getOccupancyReport(request: p.GetOccupancyReportRequest, caller: Caller): Promise<p.GetOccupancyReportResponse>
  createUser(request: p.CreateUserRequest, caller: Caller): Promise<p.CreateUserResponse>
  updateUser(request: p.UpdateUserRequest, caller: Caller): Promise<p.UpdateUserResponse>
  deleteUser(request: p.DeleteUserRequest, caller: Caller): Promise<p.DeleteUserResponse>
  changePin(request: p.ChangePinRequest, caller: Caller): Promise<p.ChangePinResponse>
  resetPin(request: p.ResetPinRequest, caller: Caller): Promise<p.ResetPinResponse>
  unlockUser(request: p.UnlockUserRequest, caller: Caller): Promise<p.UnlockUserResponse>
  /** Opens a portal session; `adminName` names the tokens file's admin entry a token matches. */
  createSession(request: p.CreateSessionRequest, caller: Caller, adminName: (token: string) => string | undefined): Promise<p.CreateSessionResponse>
  /** The caller a portal's session token stands for (throws SESSION_INVALID). */
  resolveSession(token: string, portal: string, hasAdmin: (name: string) => boolean): Promise<Caller>
  getSession(caller: Caller): p.GetSessionResponse
  endSession(caller: Caller): Promise<void>
  clearLockout(request: p.ClearLockoutRequest, caller: Caller): Promise<p.ClearLockoutResponse>
  createDevice(request: p.CreateDeviceRequest, caller: Caller): Promise<p.CreateDeviceResponse>
  updateDevice(request: p.UpdateDeviceRequest, caller: Caller): Promise<p.UpdateDeviceResponse>
  deleteDevice(request: p.DeleteDeviceRequest, caller: Caller): Promise<p.DeleteDeviceResponse>
  createSite(request: p.CreateSiteRequest, caller: Caller): Promise<p.CreateSiteResponse>
  updateSite(request: p.UpdateSiteRequest, caller: Caller): Promise<p.UpdateSiteResponse>
  deleteSite(request: p.DeleteSiteRequest, caller: Caller): Promise<p.DeleteSiteResponse>
  setFunctionKeyProfile(request: p.SetFunctionKeyProfileRequest, caller: Caller): Promise<p.SetFunctionKeyProfileResponse>
  deleteFunctionKeyProfile(request: p.DeleteFunctionKeyProfileRequest, caller: Caller): Promise<p.DeleteFunctionKeyProfileResponse>
  renewLease(request: p.RenewLeaseRequest, caller: Caller): Promise<p.RenewLeaseResponse>
  releaseLease(request: p.ReleaseLeaseRequest, caller: Caller): Promise<p.ReleaseLeaseResponse>
  ackRevocations(request: p.AckRevocationsRequest, caller: Caller): Promise<p.AckRevocationsResponse>
  reportBindings(request: p.ReportBindingsRequest, caller: Caller): Promise<p.ReportBindingsResponse>

  getSeat(request: p.GetSeatRequest, caller: Caller): Promise<p.GetSeatResponse>
  listSeats(request: p.ListSeatsRequest, caller: Caller): Promise<p.ListSeatsResponse>
  listFreeDesks(request: p.ListFreeDesksRequest, caller: Caller): Promise<p.ListFreeDesksResponse>
  listSeatHistory(request: p.ListSeatHistoryRequest, caller: Caller): Promise<p.ListSeatHistoryResponse>
  getUser(request: p.GetUserRequest, caller: Caller): Promise<p.GetUserResponse>
  listUsers(request: p.ListUsersRequest, caller: Caller): Promise<p.ListUsersResponse>
  getDevice(request: p.GetDeviceRequest, caller: Caller): Promise<p.GetDeviceResponse>
  listDevices(request: p.ListDevicesRequest, caller: Caller): Promise<p.ListDevicesResponse>
  getDeviceCredentials(request: p.GetDeviceCredentialsRequest, caller: Caller): Promise<p.GetDeviceCredentialsResponse>
  getFunctionKeyProfile(request: p.GetFunctionKeyProfileRequest, caller: Caller): Promise<p.GetFunctionKeyProfileResponse>
  listFunctionKeyProfiles(request: p.ListFunctionKeyProfilesRequest, caller: Caller): Promise<p.ListFunctionKeyProfilesResponse>
  getSite(request: p.GetSiteRequest, caller: Caller): Promise<p.GetSiteResponse>
  listSites(request: p.ListSitesRequest, caller: Caller): Promise<p.ListSitesResponse>
  reportCallActivity(request: p.ReportCallActivityRequest, caller: Caller): Promise<p.ReportCallActivityResponse>
  setSeatPolicy(request: p.SetSeatPolicyRequest, caller: Caller): Promise<p.SetSeatPolicyResponse>
  deleteSeatPolicy(request: p.DeleteSeatPolicyRequest, caller: Caller): Promise<p.DeleteSeatPolicyResponse>
  getSeatPolicy(request: p.GetSeatPolicyRequest): Promise<p.GetSeatPolicyResponse>
  getEffectiveSeatPolicy(request: p.GetEffectiveSeatPolicyRequest): Promise<p.GetEffectiveSeatPolicyResponse>
  getClusterStatus(request: p.GetClusterStatusRequest, caller: Caller): Promise<p.GetClusterStatusResponse>
  /** `options.deadline`: the call's deadline (ms since epoch), which bounds the wait for the run. */
  syncDirectory(request: p.SyncDirectoryRequest, caller: Caller, options?: { deadline?: number }): Promise<p.SyncDirectoryResponse>
  getDirectorySyncStatus(request: p.GetDirectorySyncStatusRequest, caller: Caller): Promise<p.GetDirectorySyncStatusResponse>
  listBindings(request: p.ListBindingsRequest, caller: Caller): Promise<p.ListBindingsResponse>
  reportCalls(request: p.ReportCallsRequest, caller: Caller): Promise<p.ReportCallsResponse>
  listCalls(request: p.ListCallsRequest, caller: Caller): Promise<p.ListCallsResponse>
  watchSeats(request: p.WatchSeatsRequest, signal: AbortSignal): AsyncIterable<p.WatchSeatsResponse>
  watchDialogs(signal: AbortSignal): AsyncIterable<p.WatchDialogsResponse>
}
