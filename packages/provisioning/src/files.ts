/**
 * The files a phone may fetch, by name: `<mac>.cfg` (Yealink's file; Poly's master configuration),
 * `<mac>.xml` (Snom's settings), `<mac>-flexseat.cfg` and `<mac>-directory.xml` (Poly's settings and
 * speed dials), `<mac>.json` (the generic format, for any phone). The MAC may be written in either
 * case. Which renderer answers depends on the file name and the device's vendor.
 */
import type { DeskFile, Vendor } from './desk'
import { renderGeneric } from './renderers/generic'
import { renderPoly, renderPolyDirectory, renderPolyMaster } from './renderers/poly'
import { renderSnom } from './renderers/snom'
import { renderYealink } from './renderers/yealink'

/** File names the service answers (the route's pattern). */
export const FILE_PATTERN = '^[0-9A-Fa-f]{12}(?:\\.cfg|\\.xml|\\.json|-flexseat\\.cfg|-directory\\.xml)$'

/** What a file name asks for. */
export interface FileName {
  /** Lower case. */
  readonly mac: string
  readonly suffix: '.cfg' | '.xml' | '.json' | '-flexseat.cfg' | '-directory.xml'
}

/** Parses a file name of {@link FILE_PATTERN}; undefined otherwise. */
export function parseFileName(name: string): FileName | undefined {
  const match = /^([0-9A-Fa-f]{12})(\.cfg|\.xml|\.json|-flexseat\.cfg|-directory\.xml)$/.exec(name)
  return match === null ? undefined : { mac: match[1]!.toLowerCase(), suffix: match[2] as FileName['suffix'] }
}

/** A renderer and the content type of its output. */
export interface FileRenderer {
  readonly contentType: string
  render(file: DeskFile): string
}

/** The renderer of `suffix` for a phone of `vendor`; undefined when that phone has no such file. */
export function rendererFor(suffix: FileName['suffix'], vendor: Vendor): FileRenderer | undefined {
  if (suffix === '.json') return { contentType: 'application/json; charset=utf-8', render: renderGeneric }
  if (suffix === '.cfg' && vendor === 'yealink') return { contentType: 'text/plain; charset=utf-8', render: renderYealink }
  if (suffix === '.cfg' && vendor === 'poly') return { contentType: 'application/xml; charset=utf-8', render: renderPolyMaster }
  if (suffix === '-flexseat.cfg' && vendor === 'poly') return { contentType: 'application/xml; charset=utf-8', render: renderPoly }
  if (suffix === '-directory.xml' && vendor === 'poly') return { contentType: 'application/xml; charset=utf-8', render: renderPolyDirectory }
  if (suffix === '.xml' && vendor === 'snom') return { contentType: 'application/xml; charset=utf-8', render: renderSnom }
  return undefined
}
