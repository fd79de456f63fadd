/**
 * A site's IANA time zone and a BCP 47 language, in the terms each phone family knows. Offsets and
 * daylight-saving transitions are computed through `Intl` from the zone (never written by hand);
 * what a vendor names by a fixed list (Yealink's zone names, Snom's zone codes, the languages)
 * comes from the small tables below, and a zone or language missing there falls back as each
 * function says.
 */

/** The zone's UTC offset at `at`, in seconds (east positive), through Intl. */
export function offsetSeconds(timeZone: string, at: Date): number {
  const parts = new Intl.DateTimeFormat('en-US', { timeZone, hourCycle: 'h23', year: 'numeric', month: 'numeric', day: 'numeric', hour: 'numeric', minute: 'numeric', second: 'numeric' }).formatToParts(at)
  const get = (type: string): number => Number(parts.find((p) => p.type === type)?.value ?? 0)
  const local = Date.UTC(get('year'), get('month') - 1, get('day'), get('hour') % 24, get('minute'), get('second'))
  return Math.round((local - Math.floor(at.getTime() / 1000) * 1000) / 1000)
}

/** A zone's standard offset, whether it keeps daylight-saving time, and this year's transitions. */
export interface ZoneFacts {
  /** The standard (winter) offset in seconds. */
  readonly standardSeconds: number
  /** The daylight-saving shift in seconds (0: none). */
  readonly dstSeconds: number
  /** The local wall-clock times the daylight-saving period starts and ends in `year` (when kept). */
  readonly dst?: { readonly start: LocalTime; readonly end: LocalTime } | undefined
}

/** A local wall-clock instant: month 1-12, day of month, hour 0-23. */
export interface LocalTime {
  readonly month: number
  readonly day: number
  readonly hour: number
}

const factsCache = new Map<string, ZoneFacts>()

/** The facts of `timeZone` in `year` (transitions found hour by hour around each change of offset). */
export function zoneFacts(timeZone: string, year: number): ZoneFacts {
  const key = `${timeZone}/${year}`
  const cached = factsCache.get(key)
  if (cached !== undefined) return cached
  const offsets: number[] = []
  for (let day = 0; day < 366; day += 1) offsets.push(offsetSeconds(timeZone, new Date(Date.UTC(year, 0, 1 + day, 12))))
  const standardSeconds = Math.min(...offsets)
  const dstSeconds = Math.max(...offsets) - standardSeconds
  let facts: ZoneFacts = { standardSeconds, dstSeconds }
  if (dstSeconds > 0) {
    const changes: { day: number; toDst: boolean }[] = []
    for (let day = 1; day < offsets.length; day += 1) {
      if (offsets[day] !== offsets[day - 1]) changes.push({ day, toDst: (offsets[day] as number) > standardSeconds })
    }
    const start = changes.find((c) => c.toDst)
    const end = changes.find((c) => !c.toDst)
    if (start !== undefined && end !== undefined) facts = { ...facts, dst: { start: transition(timeZone, year, start.day, standardSeconds), end: transition(timeZone, year, end.day, standardSeconds + dstSeconds) } }
  }
  factsCache.set(key, facts)
  return facts
}

// The local time (in the offset before the change) of the first hour of the day before `day`
// (noon samples) at which the offset differs from `before`.
function transition(timeZone: string, year: number, day: number, before: number): LocalTime {
  for (let hour = -12; hour < 24; hour += 1) {
    const at = new Date(Date.UTC(year, 0, day, 12 + hour))
    if (offsetSeconds(timeZone, at) !== before) {
      const local = new Date(at.getTime() + before * 1000)
      return { month: local.getUTCMonth() + 1, day: local.getUTCDate(), hour: local.getUTCHours() }
    }
  }
  return { month: 1, day: 1, hour: 0 }
}

/** `+1`, `-6`, `+5:30`: an offset as Yealink's `local_time.time_zone` writes it. */
export function hoursText(seconds: number): string {
  const sign = seconds < 0 ? '-' : '+'
  const abs = Math.abs(seconds)
  const hours = Math.floor(abs / 3600)
  const minutes = Math.round((abs % 3600) / 60)
  return minutes === 0 ? `${sign}${hours}` : `${sign}${hours}:${String(minutes).padStart(2, '0')}`
}

/**
 * Yealink's `local_time.time_zone_name` of a zone: the names of Yealink's own list, which its
 * automatic daylight-saving rules key on (Yealink, "Administrator Guide for SIP T5 Series", Time
 * and Date: local_time.time_zone / time_zone_name / summer_time). Undefined for zones not in this
 * table: the offset alone is written, with daylight saving left automatic.
 */
export const YEALINK_ZONE_NAMES: Readonly<Record<string, string>> = {
  'Europe/Amsterdam': 'Netherlands(Amsterdam)',
  'Europe/Berlin': 'Germany(Berlin)',
  'Europe/Brussels': 'Belgium(Brussels)',
  'Europe/Paris': 'France(Paris)',
  'Europe/London': 'United Kingdom(London)',
  'Europe/Madrid': 'Spain(Madrid)',
  'Europe/Rome': 'Italy(Rome)',
  'Europe/Vienna': 'Austria(Vienna)',
  'Europe/Zurich': 'Switzerland(Bern)',
  'America/New_York': 'United States-Eastern Time',
  'America/Chicago': 'United States-Central Time',
  'America/Denver': 'United States-Mountain Time',
  'America/Los_Angeles': 'United States-Pacific Time',
}

/**
 * Snom's `timezone` codes (country + standard offset, e.g. `GER+1`, `USA-6`), whose daylight-saving
 * rules the phone knows (Snom service wiki, "Desk Phone Configuration Files": `<timezone>GER+1`;
 * setting "timezone"). Undefined for zones not in this table: the element is left out and the
 * phone keeps its own.
 */
export const SNOM_ZONE_CODES: Readonly<Record<string, string>> = {
  'Europe/Amsterdam': 'NLD+1',
  'Europe/Berlin': 'GER+1',
  'Europe/Brussels': 'BEL+1',
  'Europe/Paris': 'FRA+1',
  'Europe/London': 'GBR-0',
  'Europe/Madrid': 'ESP+1',
  'Europe/Rome': 'ITA+1',
  'Europe/Vienna': 'AUT+1',
  'Europe/Zurich': 'CHE+1',
  'America/New_York': 'USA-5',
  'America/Chicago': 'USA-6',
  'America/Denver': 'USA-7',
  'America/Los_Angeles': 'USA-8',
}

/** The primary language subtag, lower case (`de` of `de-AT`). */
export function primaryLanguage(tag: string): string {
  return tag.split('-')[0]?.toLowerCase() ?? 'en'
}

/** Yealink's `lang.gui` values (Yealink, "Administrator Guide for SIP T5 Series", Language: lang.gui). English when missing. */
const YEALINK_LANGUAGES: Readonly<Record<string, string>> = {
  en: 'English', de: 'German', fr: 'French', it: 'Italian', es: 'Spanish', pt: 'Portuguese', pl: 'Polish', tr: 'Turkish', ru: 'Russian', nl: 'Dutch',
}
export function yealinkLanguage(tag: string): string {
  return YEALINK_LANGUAGES[primaryLanguage(tag)] ?? 'English'
}

/** Snom's `language` values (Snom service wiki, "Desk Phone Configuration Files": `<language>Deutsch`). English when missing. */
const SNOM_LANGUAGES: Readonly<Record<string, string>> = {
  en: 'English', de: 'Deutsch', fr: 'Francais', it: 'Italiano', es: 'Espanol', pt: 'Portugues', pl: 'Polski', tr: 'Turkce', nl: 'Nederlands', da: 'Dansk', sv: 'Svenska',
}
export function snomLanguage(tag: string): string {
  return SNOM_LANGUAGES[primaryLanguage(tag)] ?? 'English'
}

/**
 * Poly's `lcl.ml.lang` values, `<Language>_<Country>` (Polycom UC Software Administrator's Guide,
 * Multilingual User Interface: lcl.ml.lang). The tag's region picks the country where the table has
 * it; English_United_States when the language is missing.
 */
const POLY_LANGUAGES: Readonly<Record<string, readonly [string, Readonly<Record<string, string>>]>> = {
  en: ['English_United_States', { GB: 'English_United_Kingdom', CA: 'English_Canada' }],
  de: ['German_Germany', {}],
  fr: ['French_France', { CA: 'French_Canada' }],
  it: ['Italian_Italy', {}],
  es: ['Spanish_Spain', {}],
  pt: ['Portuguese_Portugal', { BR: 'Portuguese_Brazil' }],
  pl: ['Polish_Poland', {}],
  nl: ['Dutch_Netherlands', {}],
  ru: ['Russian_Russia', {}],
}
export function polyLanguage(tag: string): string {
  const [language, region] = [primaryLanguage(tag), tag.split('-')[1]?.toUpperCase()]
  const entry = POLY_LANGUAGES[language]
  if (entry === undefined) return 'English_United_States'
  return (region !== undefined ? entry[1][region] : undefined) ?? entry[0]
}
