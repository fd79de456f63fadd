import { registryKind } from './registry-kind'
import type { SiteProcessKind } from './site-process-kind'

/**
 * The processes `npm start` runs per site, in start order (stopped in reverse).
 * Later: the SIP engine (drachtio wire protocol), then the SIP node that connects to it.
 */
export const SITE_PROCESS_KINDS: readonly SiteProcessKind[] = [registryKind]
