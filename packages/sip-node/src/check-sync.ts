/**
 * The `check-sync` NOTIFY that makes a desk phone fetch its provisioning file again (the de-facto
 * event of Yealink, Snom, Poly and others; no subscription precedes it). The variant per family,
 * each without a reboot where the family allows it:
 *
 * - Yealink: `check-sync;reboot=false`. With `sip.notify_reboot_enable = 0` (which every file the
 *   provisioning service renders sets) the phone reboots only when the event says `reboot=true`,
 *   and re-provisions otherwise. (Yealink, "Administrator Guide for SIP T5 Series Smart Media
 *   Phones", Rebooting Issues: sip.notify_reboot_enable 0/1/2,
 *   https://manualshive.com/en/manual/yealink/cp969/909068?page=779)
 * - Snom: `check-sync;reboot=false` reloads the settings without a reboot. (Snom service wiki,
 *   "checksync_action" and "How to trigger the phone to reset or synchronize its settings via
 *   provisioning", https://service.snom.com/display/wiki/checksync_action)
 * - Poly: `check-sync`; the file sets `voIpProt.SIP.specialEvent.checkSync.alwaysReboot = 0`, so
 *   the phone restarts only when the software itself changed. (Polycom UC Software
 *   Administrator's Guide, "voIpProt.SIP.specialEvent.checkSync.alwaysReboot")
 * - anything else (the generic format): `check-sync;reboot=false`, the form most phones that
 *   know the event accept (Gigaset pro wiki, "SIP: Check-sync message",
 *   https://teamwork.gigaset.com/gigawiki/display/GPPPO/SIP%3A+Check-sync+message).
 */
import { PhoneVendor } from '@flexseat/proto'

/** The value of the NOTIFY's `Event` header for a phone of `vendor`. */
export function checkSyncEvent(vendor: PhoneVendor | undefined): string {
  return vendor === PhoneVendor.PHONE_VENDOR_POLY ? 'check-sync' : 'check-sync;reboot=false'
}
