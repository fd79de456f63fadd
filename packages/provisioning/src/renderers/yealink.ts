/**
 * Yealink `<mac>.cfg` (the MAC-oriented file, plain `key = value` lines). Sources: Yealink
 * "Administrator Guide for SIP T5 Series Smart Media Phones" and "Yealink IP Phones Auto
 * Provisioning Guide" (account.X.*, linekey.X.*, lang.gui, local_time.*, sip.notify_reboot_enable),
 * "XML Browser Developer's Guide for Yealink IP Phones" (the XML Browser key).
 */
import type { DeskFile, DeskKey } from '../desk'
import { hoursText, YEALINK_ZONE_NAMES, yealinkLanguage, zoneFacts } from '../locale'
import { KEY_SLOTS } from './key-slots'

// linekey.X.type values. Yealink T5 guide, "BLF Key Configuration" (linekey.X.type=16, .line, .value,
// .label: https://easymanua.ls/yealink/t5-series/manual/730711?p=349) and "Line Keys
// Configuration": 15 Line, 13 Speed Dial, 27 XML Browser, 0 N/A.
const TYPE: Readonly<Record<DeskKey['kind'], number>> = { line: 15, blf: 16, 'speed-dial': 13, app: 27 }
const NONE = 0

/** A value ends at the line's end: anything that could start another line is dropped. */
function value(text: string): string {
  return text.replace(/[\r\n]/g, ' ')
}

/** The Yealink file of `file`. */
export function renderYealink(file: DeskFile): string {
  const { desk } = file
  const zone = zoneFacts(desk.site.timezone, desk.year)
  const zoneName = YEALINK_ZONE_NAMES[desk.site.timezone]
  const lines = [
    // Must be the very first bytes: without it the phone ignores the file (Auto Provisioning Guide,
    // "Editing MAC-Oriented CFG File").
    '#!version:1.0.0.1',
    `## flexseat: ${file.state} desk ${desk.deviceId} (${desk.mac}) at ${desk.site.id}; keys: ${file.keySource}`,
    '## The SIP password is not in this file: the phone keeps the one it was configured with.',
    '',
    '# A check-sync NOTIFY re-provisions without a reboot (0: reboot only on "reboot=true";',
    '# T5 guide, "Rebooting Issues": https://manualshive.com/en/manual/yealink/cp969/909068?page=779).',
    'sip.notify_reboot_enable = 0',
    '',
    'account.1.enable = 1',
    `account.1.label = ${value(file.line.label)}`,
    `account.1.display_name = ${value(file.line.displayName)}`,
    `account.1.user_name = ${desk.deviceId}`,
    `account.1.auth_name = ${desk.deviceId}`,
    `account.1.sip_server.1.address = ${desk.site.registrar.host}`,
    `account.1.sip_server.1.port = ${desk.site.registrar.port}`,
    // 0 UDP, 1 TCP (account.X.sip_server.Y.transport_type).
    `account.1.sip_server.1.transport_type = ${desk.site.registrar.transport === 'tcp' ? 1 : 0}`,
    '',
    `lang.gui = ${yealinkLanguage(file.language)}`,
    `lang.wui = ${yealinkLanguage(file.language)}`,
    `local_time.time_zone = ${hoursText(zone.standardSeconds)}`,
    ...(zoneName === undefined ? [] : [`local_time.time_zone_name = ${zoneName}`]),
    // 2: daylight saving by the zone's own rules; 0: none.
    `local_time.summer_time = ${zone.dstSeconds > 0 ? 2 : 0}`,
    '',
  ]
  // Line keys count from 1 (TESTBED.md, Desk phones).
  for (let slot = 1; slot <= KEY_SLOTS; slot += 1) {
    const key = file.keys[slot - 1]
    if (key === undefined) {
      lines.push(`linekey.${slot}.type = ${NONE}`, `linekey.${slot}.value = `, `linekey.${slot}.label = `)
      continue
    }
    lines.push(
      `linekey.${slot}.type = ${TYPE[key.kind]}`,
      `linekey.${slot}.line = 1`,
      `linekey.${slot}.value = ${value(key.kind === 'line' ? '' : key.value)}`,
      `linekey.${slot}.label = ${value(key.label)}`,
    )
  }
  return `${lines.join('\n')}\n`
}
