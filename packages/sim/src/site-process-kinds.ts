import type { EngineChoice } from './engine-choice'
import { engineKind, engineKindOf } from './engine-kind'
import { portalKind } from './portal-kind'
import { provisioningKind } from './provisioning-kind'
import { registryKind } from './registry-kind'
import type { SiteProcessKind } from './site-process-kind'
import { sipNodeKind } from './sip-node-kind'

/**
 * The processes `npm start` runs per site, in start order (stopped in reverse): the seat
 * registry, the SIP engine (drachtio's wire protocol), the SIP node that connects to both, then
 * the provisioning service and the web portal (clients of the registries, like the node).
 */
export const SITE_PROCESS_KINDS: readonly SiteProcessKind[] = [registryKind, engineKind, sipNodeKind, provisioningKind, portalKind]

/** {@link SITE_PROCESS_KINDS} with the SIP engine of `choice` (`--engine`). */
export function siteProcessKinds(choice: EngineChoice): readonly SiteProcessKind[] {
  return [registryKind, engineKindOf(choice), sipNodeKind, provisioningKind, portalKind]
}
