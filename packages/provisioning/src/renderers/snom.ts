/**
 * Snom XML settings (`<settings>` with `<phone-settings>` and `<functionKeys>`). Sources: Snom
 * service wiki, "Desk Phone Configuration Files" (https://service.snom.com/display/wiki/Desk+Phone+Configuration+Files:
 * language, timezone, user_realname/user_name/user_host/user_active with idx, perm flags),
 * "Function Key Types" (https://service.snom.com/display/wiki/Function+Key+Types: line, blf,
 * speed, url, none) and the function key settings tag (https://service.snom.com/x/4b33DQ: fkey idx
 * from 0, context, label, perm); Snom User Wiki, "Identities/Login" (user_pname, user_idle_text).
 */
import type { DeskFile, DeskKey } from '../desk'
import { SNOM_ZONE_CODES, snomLanguage } from '../locale'
import { xmlEscape } from '../xml'
import { KEY_SLOTS } from './key-slots'

// perm="" (read-write): provisioning overwrites the setting every time. Never "!": a setting the
// user once edited is no longer overwritten then (D7 user manual, "XML provisioning of settings"),
// and a desk must lose a departed worker's keys.
const PERM = 'perm=""'

function keyValue(key: DeskKey | undefined, domain: string): string {
  if (key === undefined) return 'none'
  switch (key.kind) {
    case 'line':
      return 'line'
    case 'blf':
      // `blf <sip:…>`: the brackets are part of the value (escaped in XML).
      return `blf <sip:${key.value}@${domain}>`
    case 'speed-dial':
      return `speed ${key.value}`
    case 'app':
      // Action URL: the phone fetches it; a minibrowser document in the answer is shown.
      return `url ${key.value}`
  }
}

/** The Snom settings file of `file`. */
export function renderSnom(file: DeskFile): string {
  const { desk } = file
  const language = snomLanguage(file.language)
  const zone = SNOM_ZONE_CODES[desk.site.timezone]
  const setting = (name: string, text: string, idx?: number): string => `    <${name}${idx === undefined ? '' : ` idx="${idx}"`} ${PERM}>${xmlEscape(text)}</${name}>`
  const transport = desk.site.registrar.transport === 'tcp' ? ';transport=tcp' : ''
  const keys: string[] = []
  for (let idx = 0; idx < KEY_SLOTS; idx += 1) {
    const key = file.keys[idx]
    keys.push(`    <fkey idx="${idx}" context="active" label="${xmlEscape(key?.label ?? '')}" ${PERM}>${xmlEscape(keyValue(key, desk.site.domain))}</fkey>`)
  }
  return [
    '<?xml version="1.0" encoding="utf-8"?>',
    `<!-- flexseat: ${file.state} desk ${xmlEscape(desk.deviceId)} (${desk.mac}) at ${xmlEscape(desk.site.id)}; keys: ${xmlEscape(file.keySource)}. No SIP password here: the phone keeps its own. -->`,
    '<settings>',
    '  <phone-settings>',
    setting('language', language),
    setting('web_language', language),
    ...(zone === undefined ? [] : [setting('timezone', zone)]),
    setting('user_active', 'on', 1),
    setting('user_realname', file.line.displayName, 1),
    setting('user_idle_text', file.line.label, 1),
    setting('user_name', desk.deviceId, 1),
    setting('user_pname', desk.deviceId, 1),
    setting('user_host', `${desk.site.registrar.host}:${desk.site.registrar.port}${transport}`, 1),
    '  </phone-settings>',
    '  <functionKeys>',
    ...keys,
    '  </functionKeys>',
    '</settings>',
    '',
  ].join('\n')
}
