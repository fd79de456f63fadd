// The public surface of @flexseat/directory-sync: the configuration, the LDAP reader and bind
// check, the attribute map, the pure planner, and the scheduler the registry leader hosts.

export { DEFAULT_ATTRIBUTES, departmentPolicies, loadDirectorySyncConfig, POLICY_KEYS, parseDirectorySyncConfig, templateFor } from './config'
export type { AttributeMap, DirectorySyncConfig, IncrementalMethod, ParseOptions, SwitchableSetting, Template, TemplatePolicy, Templates } from './config'
export { ACCOUNT_DISABLED, guidText, keyText, phoneNumber, requestedAttributes, toDirectoryEntry } from './attribute-map'
export type { DirectoryEntry, LdapEntry } from './attribute-map'
export { differences, planSync, renumberingOrder } from './planner'
export type { PlanInput, SyncPlan } from './planner'
export { generalizedTime, LdapDirectory } from './ldap-directory'
export type { DirectoryRead, DirectoryReader, PasswordCheck } from './ldap-directory'
export { DirectorySync, MAX_LISTED_CONFLICTS } from './directory-sync'
export type { ChangeOutcome, DirectorySyncLifecycle, DirectorySyncOptions, RunRequest, SyncTarget } from './directory-sync'
export { configError, DirectorySyncError } from './errors'
export type { DirectorySyncErrorCode } from './errors'
