/**
 * Poly (Polycom UC Software) files: the master configuration `<mac>.cfg` naming the phone's
 * settings file, the settings `<mac>-flexseat.cfg` (an XML element whose attributes are
 * parameters), and the contact directory `<mac>-directory.xml` holding the speed dials. Sources:
 * "Administrator's Guide for the Polycom UC Software" (3.3.0, 4.1.0, 5.x: master configuration
 * file CONFIG_FILES; reg.x.address/label/displayName/auth.userId/server.y.*; <softkey/>
 * softkey.x.label/action/enable/use.idle with the enhanced feature key syntax and
 * feature.enhancedFeatureKeys.enabled; Flexible Line Key Assignment lineKey.reassignment.enabled,
 * lineKey.x.category/index; attendant.resourceList.x.address/label/type; lcl.ml.lang;
 * tcpIpApp.sntp.gmtOffset in seconds and tcpIpApp.sntp.daylightSavings.*; mb.main.home;
 * voIpProt.SIP.specialEvent.checkSync.alwaysReboot; local contact directory <item> fn/ct/sd),
 * e.g. https://docslib.org/doc/4001299/administrators-guide-for-the-polycom%C2%AE-uc-software and
 * the SIP 3.1 guide's Soft Keys table (https://manualsbrain.com/ja/manuals/988915/?page=257).
 */
import type { DeskFile, DeskKey } from '../desk'
import { type LocalTime, polyLanguage, zoneFacts } from '../locale'
import { xmlEscape } from '../xml'
import { KEY_SLOTS } from './key-slots'

const HEADER = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'

/** The name of the settings file the master configuration lists. */
export function polySettingsFile(mac: string): string {
  return `${mac}-flexseat.cfg`
}

/** The master configuration `<mac>.cfg`: which files the phone loads (only the settings file). */
export function renderPolyMaster(file: DeskFile): string {
  const { mac } = file.desk
  return [
    HEADER,
    '<!-- flexseat: the phone loads its settings from the file named here; the speed dials come in <mac>-directory.xml. -->',
    `<APPLICATION APP_FILE_PATH="" CONFIG_FILES="${polySettingsFile(mac)}" MISC_FILES="" LOG_FILE_DIRECTORY="" OVERRIDES_DIRECTORY="" CONTACTS_DIRECTORY="" LICENSE_DIRECTORY="" USER_PROFILES_DIRECTORY="" CALL_LISTS_DIRECTORY=""/>`,
    '',
  ].join('\n')
}

// The sign-in key is a soft key (Poly's line keys hold lines, BLF and speed dials); the others
// are line keys, assigned one by one. The soft key opens the microbrowser's home page: the one
// application, or the desk menu (apps/desk-menu.ts) where the file has several (a seated desk:
// Logout and Calls), so the call list is reached on a Poly phone too.
function split(file: DeskFile): { app: DeskKey | undefined; home: string; lineKeys: DeskKey[] } {
  const apps = file.keys.filter((k) => k.kind === 'app')
  const app = apps[0]
  return { app, home: apps.length > 1 ? file.desk.apps.menu : (app?.value ?? ''), lineKeys: file.keys.filter((k) => k.kind !== 'app').slice(0, KEY_SLOTS) }
}

type Attributes = [string, string | number][]

function element(name: string, attributes: Attributes): string {
  return `  <${name}\n${attributes.map(([key, value]) => `    ${key}="${xmlEscape(String(value))}"`).join('\n')}\n  />`
}

function dst(prefix: 'start' | 'stop', at: LocalTime): Attributes {
  return [
    [`tcpIpApp.sntp.daylightSavings.${prefix}.month`, at.month],
    [`tcpIpApp.sntp.daylightSavings.${prefix}.date`, at.day],
    [`tcpIpApp.sntp.daylightSavings.${prefix}.time`, at.hour],
  ]
}

/** The settings file `<mac>-flexseat.cfg`. */
export function renderPoly(file: DeskFile): string {
  const { desk } = file
  const { app, home, lineKeys } = split(file)
  const zone = zoneFacts(desk.site.timezone, desk.year)
  const lineKey: Attributes = [['lineKey.reassignment.enabled', 1]]
  const attendant: Attributes = []
  let blf = 0
  let speed = 0
  for (let slot = 1; slot <= KEY_SLOTS; slot += 1) {
    const key = lineKeys[slot - 1]
    if (key === undefined) {
      lineKey.push([`lineKey.${slot}.category`, 'Unassigned'], [`lineKey.${slot}.index`, 0])
    } else if (key.kind === 'blf') {
      blf += 1
      lineKey.push([`lineKey.${slot}.category`, 'BLF'], [`lineKey.${slot}.index`, blf])
      // With a resource list the phone learns the entries (and their names) from the list's RLMI.
      if (desk.site.blfList !== true) attendant.push([`attendant.resourceList.${blf}.address`, `${key.value}@${desk.site.domain}`], [`attendant.resourceList.${blf}.label`, key.label], [`attendant.resourceList.${blf}.type`, 'normal'])
    } else if (key.kind === 'speed-dial') {
      speed += 1
      lineKey.push([`lineKey.${slot}.category`, 'SpeedDial'], [`lineKey.${slot}.index`, speed])
    } else {
      lineKey.push([`lineKey.${slot}.category`, 'Line'], [`lineKey.${slot}.index`, 1])
    }
  }
  // One subscription to the desk's list (the SIP node's `sip:blf-list@<domain>`, RFC 4662) on the
  // phone's one registration; an empty URI: a subscription per entry of attendant.resourceList.
  attendant.unshift(['attendant.uri', desk.site.blfList === true && blf > 0 ? `blf-list@${desk.site.domain}` : ''], ['attendant.reg', 1])
  // Entries of an earlier, longer list must not stay monitored.
  for (let index = desk.site.blfList === true ? 1 : blf + 1; index <= KEY_SLOTS; index += 1) attendant.push([`attendant.resourceList.${index}.address`, ''], [`attendant.resourceList.${index}.label`, ''])
  const timeAttributes: Attributes = [
    ['tcpIpApp.sntp.gmtOffset', zone.standardSeconds],
    ['tcpIpApp.sntp.daylightSavings.enable', zone.dst === undefined ? 0 : 1],
    // This year's transitions as fixed dates: the phone fetches its file again at every seat change.
    ...(zone.dst === undefined ? [] : ([['tcpIpApp.sntp.daylightSavings.fixedDayEnable', 1], ...dst('start', zone.dst.start), ...dst('stop', zone.dst.end)] as Attributes)),
  ]
  return [
    HEADER,
    `<!-- flexseat: ${file.state} desk ${xmlEscape(desk.deviceId)} (${desk.mac}) at ${xmlEscape(desk.site.id)}; keys: ${xmlEscape(file.keySource)}. No SIP password here: the phone keeps its own. -->`,
    '<polycomConfig>',
    element('reg', [
      ['reg.1.address', `${desk.deviceId}@${desk.site.domain}`],
      ['reg.1.auth.userId', desk.deviceId],
      ['reg.1.displayName', file.line.displayName],
      ['reg.1.label', file.line.label],
      ['reg.1.server.1.address', desk.site.registrar.host],
      ['reg.1.server.1.port', desk.site.registrar.port],
      ['reg.1.server.1.transport', desk.site.registrar.transport === 'tcp' ? 'TCPOnly' : 'UDPOnly'],
    ]),
    // A check-sync NOTIFY loads the new settings; the phone restarts only for new software.
    element('voIpProt', [['voIpProt.SIP.specialEvent.checkSync.alwaysReboot', 0]]),
    element('lcl', [['lcl.ml.lang', polyLanguage(file.language)]]),
    element('tcpIpApp', timeAttributes),
    element('lineKey', lineKey),
    element('attendant', attendant),
    // The sign-in soft key opens the microbrowser at its home page: the sign-in application, or on
    // a seated desk the desk menu (sign-out and calls).
    element('feature', [['feature.enhancedFeatureKeys.enabled', app === undefined ? 0 : 1]]),
    element('softkey', app === undefined
      ? [['softkey.1.enable', 0], ['softkey.1.label', ''], ['softkey.1.action', ''], ['softkey.1.use.idle', 0]]
      : [['softkey.1.enable', 1], ['softkey.1.label', app.label], ['softkey.1.action', '$FMicroBrowser$'], ['softkey.1.use.idle', 1]]),
    element('mb', [['mb.main.home', home]]),
    '</polycomConfig>',
    '',
  ].join('\n')
}

/** The contact directory `<mac>-directory.xml`: the speed dials, by speed-dial index (sd) in key order. */
export function renderPolyDirectory(file: DeskFile): string {
  const speedDials = split(file).lineKeys.filter((k) => k.kind === 'speed-dial')
  return [
    HEADER,
    '<directory>',
    '  <item_list>',
    ...speedDials.map((key, i) => `    <item><fn>${xmlEscape(key.label)}</fn><ct>${xmlEscape(key.value)}</ct><sd>${i + 1}</sd></item>`),
    '  </item_list>',
    '</directory>',
    '',
  ].join('\n')
}
