/**
 * The generic format (JSON) for phones of any other family: everything a renderer of another
 * vendor would need, in flexseat's own terms. `format` names the version of this layout.
 */
import type { DeskFile } from '../desk'
import { zoneFacts } from '../locale'

/** The version of the JSON layout. */
export const GENERIC_FORMAT = 'flexseat-desk/1'

/** The JSON document of `file` (indented, newline-terminated). */
export function renderGeneric(file: DeskFile): string {
  const { desk } = file
  const zone = zoneFacts(desk.site.timezone, desk.year)
  const document = {
    format: GENERIC_FORMAT,
    device: { id: desk.deviceId, mac: desk.mac, label: desk.label, extension: desk.extension },
    state: file.state,
    worker: file.worker === undefined ? null : { extension: file.worker.extension, displayName: file.worker.displayName },
    // The SIP password is not here: the phone keeps the one it was configured with.
    account: { username: desk.deviceId, authUsername: desk.deviceId, domain: desk.site.domain, registrar: desk.site.registrar },
    line: file.line,
    language: file.language,
    timezone: { name: desk.site.timezone, standardOffsetSeconds: zone.standardSeconds, daylightSavingSeconds: zone.dstSeconds },
    keys: file.keys.map((key, i) => ({ position: i + 1, type: key.kind, value: key.value, label: key.label })),
    keySource: file.keySource,
    checkSync: 'check-sync;reboot=false',
  }
  return `${JSON.stringify(document, null, 2)}\n`
}
