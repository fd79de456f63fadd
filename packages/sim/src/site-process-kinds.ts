import type { EngineChoice } from './engine-choice'
import { engineKind, engineKindOf } from './engine-kind'
import { portalKind } from './portal-kind'
import { provisioningKind } from './provisioning-kind'
import { registryKind } from './registry-kind'
import type { SiteProcessKind } from './site-process-kind'
import { sipNodeKind } from './sip-node-kind'

/**
 * The processes `npm start` runs per site (stopped in reverse list order): the seat registry
 * once etcd is up, the SIP engine (drachtio's wire protocol) meanwhile, then, once the
 * registries have a leader, the SIP node that connects to both, the provisioning service and the
 * web portal side by side (clients of the registries, like the node).
 */
export const SITE_PROCESS_KINDS: readonly SiteProcessKind[] = [registryKind, engineKind, sipNodeKind, provisioningKind, portalKind]

/** {@link SITE_PROCESS_KINDS} with the SIP engine of `choice` (`--engine`). */
export function siteProcessKinds(choice: EngineChoice): readonly SiteProcessKind[] {
  return [registryKind, engineKindOf(choice), sipNodeKind, provisioningKind, portalKind]
}
