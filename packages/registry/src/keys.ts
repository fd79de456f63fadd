/**
 * The etcd key layout of the registry, every key under one prefix (so tests and deployments can
 * share a cluster). One place builds keys, so the layout reads at a glance:
 *
 * - `users/<id>`, `devices/<id>`, `sites/<id>`: directory records (JSON).
 * - `ext/<extension>` → `user:<id>` | `device:<id>`: one extension space for users and devices.
 * - `seats/<user>` → the seat; `hosts/<device>` → user. One transaction writes both.
 * - `seats-released/<user>` → why the user's last seat ended. Written in the release transaction,
 *   so a watch sees the reason at the same revision as the deletion. It sits next to `seats/`
 *   (`-` sorts before `/`) so one watch range covers both and nothing else.
 * - `lockout/<user>`: recent wrong PINs and the lockout.
 * - `desk-throttle/<device>`: recent wrong PINs at a desk, for any workers, and its pause
 *   (desk-throttle.ts), on the request records' lease.
 * - `requests/<request id>`: the first outcome of every mutating call (idempotence).
 * - `instances/<instance id>`: presence, on the instance's own lease.
 * - `election/registry/<lease>`: etcd3's election keys.
 * - `nodes/<site>` → the branch's confirmation lease holder, on that etcd lease (it vanishes when
 *   the lease expires or is revoked). Its create revision is the grant revision.
 * - `renewals/<site>` → the last renewal of that lease (on the same etcd lease): every renewal
 *   writes it, so its mod revision changes with each one the node may have been told succeeded.
 * - `revocations/<site>/<user>` → `{epoch}`: an index of pending revocations (an entry for that
 *   site in the user's seat's `pending` or in `revoking/<user>`), written in the same transaction
 *   as the entry.
 * - `revoking/<user>` → the revocations a released seat left outstanding (a list of pending
 *   entries; no lease): written by the release, taken into the user's next seat by the next
 *   login, emptied by completions. It exists only while the user has no seat.
 * - `macs/<mac>` → device id: MAC addresses are unique among devices (written with the device).
 * - `profiles/<name>`: function-key profiles (JSON).
 * - `directory-sync/status` → the directory sync's run under way and last runs (written by the
 *   leader that runs them, read by any instance).
 * - `calls/<user>/<13-digit ms time>-<16 hex of the record id>` → one call of the worker's call
 *   list (call-list.ts), on a retention lease; the key sorts by time.
 * - `seat-history/<user>/<13-digit ms of the seat's start>-<device>` → one seat the worker held
 *   (seat-history.ts), written with the seat and again when it ends, on a retention lease; the
 *   keys sort by start.
 * - `sessions/<sha256 of the token>` → a web portal session (sessions.ts), on a retention lease.
 * - `policies/site/<site>`, `policies/department/<name>`, `policies/user/<user>` → a sign-out
 *   policy (seat-policy.ts; the department name lower-cased and URI-encoded).
 * - `activity/<user>` → the worker's calls in progress and last call activity (call-activity.ts),
 *   which the leader's seat deadlines read (idle, deferral while in a call).
 * - `desk-activity/<device>` → a desk's calls in progress (its own extension's busy lamp; the
 *   same record, call-activity.ts), watched with `activity/` by WatchDialogs (dialog-watch.ts).
 */
export class Keys {
  constructor(readonly prefix: string) {}

  user(id: string): string { return `${this.prefix}users/${id}` }
  get users(): string { return `${this.prefix}users/` }
  extension(extension: string): string { return `${this.prefix}ext/${extension}` }
  device(id: string): string { return `${this.prefix}devices/${id}` }
  get devices(): string { return `${this.prefix}devices/` }
  site(id: string): string { return `${this.prefix}sites/${id}` }
  get sites(): string { return `${this.prefix}sites/` }
  seat(userId: string): string { return `${this.prefix}seats/${userId}` }
  get seats(): string { return `${this.prefix}seats/` }
  seatReleased(userId: string): string { return `${this.prefix}seats-released/${userId}` }
  get seatsReleased(): string { return `${this.prefix}seats-released/` }
  host(deviceId: string): string { return `${this.prefix}hosts/${deviceId}` }
  get hosts(): string { return `${this.prefix}hosts/` }
  lockout(userId: string): string { return `${this.prefix}lockout/${userId}` }
  deskThrottle(deviceId: string): string { return `${this.prefix}desk-throttle/${deviceId}` }
  get lockouts(): string { return `${this.prefix}lockout/` }
  request(requestId: string): string { return `${this.prefix}requests/${requestId}` }
  instance(id: string): string { return `${this.prefix}instances/${id}` }
  get instances(): string { return `${this.prefix}instances/` }
  node(siteId: string): string { return `${this.prefix}nodes/${siteId}` }
  get nodes(): string { return `${this.prefix}nodes/` }
  renewal(siteId: string): string { return `${this.prefix}renewals/${siteId}` }
  get renewals(): string { return `${this.prefix}renewals/` }
  revocation(siteId: string, userId: string): string { return `${this.prefix}revocations/${siteId}/${userId}` }
  siteRevocations(siteId: string): string { return `${this.prefix}revocations/${siteId}/` }
  get revocations(): string { return `${this.prefix}revocations/` }
  revoking(userId: string): string { return `${this.prefix}revoking/${userId}` }
  binding(siteId: string, deviceId: string): string { return `${this.prefix}bindings/${siteId}/${deviceId}` }
  siteBindings(siteId: string): string { return `${this.prefix}bindings/${siteId}/` }
  get bindings(): string { return `${this.prefix}bindings/` }
  mac(mac: string): string { return `${this.prefix}macs/${mac}` }
  profile(name: string): string { return `${this.prefix}profiles/${name}` }
  get profiles(): string { return `${this.prefix}profiles/` }
  get directorySyncStatus(): string { return `${this.prefix}directory-sync/status` }
  /** The worker's call list: every key under it is one call. */
  calls(userId: string): string { return `${this.prefix}calls/${userId}/` }
  /** The worker's seat history: every key under it is one seat. */
  seatHistory(userId: string): string { return `${this.prefix}seat-history/${userId}/` }
  /**
   * The occupancy index of a site: one key per ended seat at its desks,
   * `<13-digit ms of end>/<13-digit ms of start>/<device>/<user>` (seat-history.ts, historyEnd).
   */
  occupancy(siteId: string): string { return `${this.prefix}occupancy/${siteId}/` }
  session(id: string): string { return `${this.prefix}sessions/${id}` }
  policy(level: 'site' | 'department' | 'user', id: string): string { return `${this.prefix}policies/${level}/${id}` }
  activity(userId: string): string { return `${this.prefix}activity/${userId}` }
  get activities(): string { return `${this.prefix}activity/` }
  deskActivity(deviceId: string): string { return `${this.prefix}desk-activity/${deviceId}` }
  get deskActivities(): string { return `${this.prefix}desk-activity/` }
  /** The election's name: etcd3 keeps candidates under `<prefix>election/<name>/<lease>`. */
  readonly electionName = 'registry'
  get election(): string { return `${this.prefix}election/${this.electionName}/` }
}
