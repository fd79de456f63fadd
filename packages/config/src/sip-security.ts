import { DEFAULT_SIP_SECURITY, type SipSecurityConfig } from './site-config'
import type { Section } from './validate-site'

/**
 * The `sip_security` section of a site file (docs/CONFIGURATION.md); absent, or any key absent,
 * gives {@link DEFAULT_SIP_SECURITY}'s value. A value out of range is refused naming its key.
 */
export function validateSipSecurity(section: Section | undefined): SipSecurityConfig {
  if (section === undefined) return { ...DEFAULT_SIP_SECURITY }
  const d = DEFAULT_SIP_SECURITY
  const enabled = section.optionalBoolean('enabled', d.enabled)
  const failuresBeforeDelay = section.optionalInteger('failures_before_delay', d.failuresBeforeDelay, 1, 1_000)
  const failuresBeforeBan = section.optionalInteger('failures_before_ban', d.failuresBeforeBan, 1, 10_000)
  if (failuresBeforeBan < failuresBeforeDelay) throw section.fail('failures_before_ban', `must be at least failures_before_delay (${failuresBeforeDelay}), not ${failuresBeforeBan}`)
  const accountFailuresBeforeDelay = section.optionalInteger('account_failures_before_delay', d.accountFailuresBeforeDelay, 1, 10_000)
  const failureWindowSeconds = section.optionalInteger('failure_window_seconds', d.failureWindowSeconds, 1, 86_400)
  const firstDelayMs = section.optionalInteger('first_delay_ms', d.firstDelayMs, 1, 30_000)
  const maxDelayMs = section.optionalInteger('max_delay_ms', d.maxDelayMs, 1, 30_000)
  if (maxDelayMs < firstDelayMs) throw section.fail('max_delay_ms', `must be at least first_delay_ms (${firstDelayMs}), not ${maxDelayMs}`)
  const banSeconds = section.optionalInteger('ban_seconds', d.banSeconds, 1, 604_800)
  const dropScanners = section.optionalBoolean('drop_scanners', d.dropScanners)
  section.done()
  return { enabled, failuresBeforeDelay, failuresBeforeBan, accountFailuresBeforeDelay, failureWindowSeconds, firstDelayMs, maxDelayMs, banSeconds, dropScanners }
}
