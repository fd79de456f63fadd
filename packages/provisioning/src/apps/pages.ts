/**
 * The kinds of page the applications show (an input form, a text, a list of dialable entries), in
 * each family's XML browser:
 *
 * - Yealink XML Browser: `YealinkIPPhoneInputScreen` (several `InputField`s; the phone appends
 *   `?<Parameter>=<value>&…` to the URL and fetches it) and `YealinkIPPhoneTextScreen` ("XML
 *   Browser Developer's Guide for Yealink IP Phones", InputScreen and TextScreen objects; one object
 *   per document, at most 10 kB).
 * - Snom XML minibrowser: `SnomIPPhoneInput` (one `InputItem`: its `InputToken` in the `Url` is
 *   replaced by what was entered) and `SnomIPPhoneText` (https://service.snom.com/display/wiki/SnomIPPhoneInput,
 *   http://docs.snom.io/xml_minibrowser/). Two inputs are two pages: the first carries the
 *   extension on to the second.
 * - Poly microbrowser (and the generic format): well-formed XHTML 1.0 with a form (POST, so the PIN
 *   stays out of the URL) in the tags the microbrowser documents (html, head, title, body, p, b, br,
 *   form, input); it renders nothing of a document that is not well formed
 *   ("Web Application Developer's Guide for the Polycom SoundPoint IP/SoundStation IP/VVX family").
 *
 * A list (the call list): Yealink `YealinkIPPhoneDirectory` (`DirectoryEntry` with `Name` and
 * `Telephone`: the phone dials the selected entry's number; XML Browser Developer's Guide,
 * Directory object), Snom `SnomIPPhoneDirectory` (the same elements, dialled with the OK key;
 * http://docs.snom.io/xml_minibrowser/, SnomIPPhoneDirectory), XHTML one paragraph per entry, a
 * link `tel://<number>` the microbrowser dials (Web Application Developer's Guide, "tel" URI). An
 * entry without a number (an anonymous caller) is shown, not dialable (an XHTML text, a Yealink or
 * Snom entry without `Telephone`). An empty list is a text page saying `empty`.
 *
 * A menu (the desk menu): Yealink `YealinkIPPhoneTextMenu` (`MenuItem` with `Prompt` and `URI`:
 * the phone fetches the selected item's URI; XML Browser Developer's Guide, TextMenu object), Snom
 * `SnomIPPhoneMenu` (`MenuItem` with `Name` and `URL`; http://docs.snom.io/xml_minibrowser/,
 * SnomIPPhoneMenu), XHTML one paragraph per item with a link (`a href`, which the microbrowser
 * follows).
 */
import type { Vendor } from '../desk'
import { xmlEscape } from '../xml'

/** One input of a form page. */
export interface InputField {
  /** The query or form parameter. */
  readonly name: string
  readonly prompt: string
  /** Masked (a PIN). */
  readonly secret: boolean
}

/** One entry of a list page: what it shows, and the number it dials (empty: not dialable). */
export interface ListEntry {
  readonly label: string
  readonly number: string
}

/** One item of a menu page: what it shows, and the page it opens. */
export interface MenuItem {
  readonly label: string
  readonly url: string
}

/** A page of an application. */
export type Page =
  | { readonly kind: 'input'; readonly title: string; readonly submit: string; readonly fields: readonly InputField[] }
  | { readonly kind: 'text'; readonly title: string; readonly text: string }
  | { readonly kind: 'list'; readonly title: string; readonly entries: readonly ListEntry[]; readonly empty: string }
  | { readonly kind: 'menu'; readonly title: string; readonly items: readonly MenuItem[] }

/** A rendered page and its content type. */
export interface RenderedPage {
  readonly contentType: string
  readonly body: string
}

const XML_HEADER = '<?xml version="1.0" encoding="UTF-8"?>'

/** Renders `page` for the XML browser of `vendor`. */
export function renderPage(vendor: Vendor, page: Page, language = 'en'): RenderedPage {
  if (page.kind === 'list' && page.entries.length === 0) page = { kind: 'text', title: page.title, text: page.empty }
  switch (vendor) {
    case 'yealink':
      return { contentType: 'text/xml; charset=utf-8', body: yealink(page) }
    case 'snom':
      return { contentType: 'text/xml; charset=utf-8', body: snom(page) }
    default:
      return { contentType: 'application/xhtml+xml; charset=utf-8', body: xhtml(page, language) }
  }
}

/** The directory entries of a Yealink or Snom list page (same element names in both). */
function directoryEntries(entries: readonly ListEntry[]): string {
  return entries
    .map((e) => `  <DirectoryEntry>\n    <Name>${xmlEscape(e.label)}</Name>\n${e.number === '' ? '' : `    <Telephone>${xmlEscape(e.number)}</Telephone>\n`}  </DirectoryEntry>\n`)
    .join('')
}

function yealink(page: Page): string {
  if (page.kind === 'menu') {
    const items = page.items.map((i) => `  <MenuItem>\n    <Prompt>${xmlEscape(i.label)}</Prompt>\n    <URI>${xmlEscape(i.url)}</URI>\n  </MenuItem>\n`).join('')
    return `${XML_HEADER}\n<YealinkIPPhoneTextMenu destroyOnExit="yes" Beep="no" Timeout="60">\n  <Title>${xmlEscape(page.title)}</Title>\n${items}</YealinkIPPhoneTextMenu>\n`
  }
  if (page.kind === 'list') {
    return `${XML_HEADER}\n<YealinkIPPhoneDirectory destroyOnExit="yes" Beep="no" Timeout="60">\n  <Title>${xmlEscape(page.title)}</Title>\n${directoryEntries(page.entries)}</YealinkIPPhoneDirectory>\n`
  }
  if (page.kind === 'text') {
    return `${XML_HEADER}\n<YealinkIPPhoneTextScreen destroyOnExit="yes" Beep="no" Timeout="15">\n  <Title>${xmlEscape(page.title)}</Title>\n  <Text>${xmlEscape(page.text)}</Text>\n</YealinkIPPhoneTextScreen>\n`
  }
  const fields = page.fields.map(
    (f) =>
      `  <InputField type="number" password="${f.secret ? 'yes' : 'no'}" editable="yes">\n    <Prompt>${xmlEscape(f.prompt)}</Prompt>\n    <Parameter>${xmlEscape(f.name)}</Parameter>\n    <Default></Default>\n  </InputField>`,
  )
  return `${XML_HEADER}\n<YealinkIPPhoneInputScreen type="number" displayMode="normal" defaultIndex="1" destroyOnExit="yes" Timeout="60">\n  <Title>${xmlEscape(page.title)}</Title>\n  <URL>${xmlEscape(page.submit)}</URL>\n${fields.join('\n')}\n</YealinkIPPhoneInputScreen>\n`
}

/** The token Snom replaces in the Url by what was entered. */
export const SNOM_INPUT_TOKEN = '__FLEXSEAT_INPUT__'

function snom(page: Page): string {
  if (page.kind === 'menu') {
    const items = page.items.map((i) => `  <MenuItem>\n    <Name>${xmlEscape(i.label)}</Name>\n    <URL>${xmlEscape(i.url)}</URL>\n  </MenuItem>\n`).join('')
    return `${XML_HEADER}\n<SnomIPPhoneMenu>\n  <Title>${xmlEscape(page.title)}</Title>\n${items}</SnomIPPhoneMenu>\n`
  }
  if (page.kind === 'list') return `${XML_HEADER}\n<SnomIPPhoneDirectory>\n  <Title>${xmlEscape(page.title)}</Title>\n${directoryEntries(page.entries)}</SnomIPPhoneDirectory>\n`
  if (page.kind === 'text') return `${XML_HEADER}\n<SnomIPPhoneText>\n  <Title>${xmlEscape(page.title)}</Title>\n  <Text>${xmlEscape(page.text)}</Text>\n</SnomIPPhoneText>\n`
  // One input per page: the caller gives Snom pages a single field, its value joining the URL.
  const field = page.fields[0]!
  const separator = page.submit.includes('?') ? '&' : '?'
  const url = `${page.submit}${separator}${encodeURIComponent(field.name)}=${SNOM_INPUT_TOKEN}`
  return (
    `${XML_HEADER}\n<SnomIPPhoneInput track="no">\n  <Title>${xmlEscape(page.title)}</Title>\n  <Url>${xmlEscape(url)}</Url>\n  <InputItem>\n` +
    `    <DisplayName>${xmlEscape(field.prompt)}</DisplayName>\n    <InputToken>${SNOM_INPUT_TOKEN}</InputToken>\n    <InputFlags>${field.secret ? 'pn' : 'n'}</InputFlags>\n    <DefaultValue></DefaultValue>\n  </InputItem>\n</SnomIPPhoneInput>\n`
  )
}

function xhtml(page: Page, language: string): string {
  const lang = xmlEscape(language)
  const body =
    page.kind === 'text'
      ? `<p>${xmlEscape(page.text)}</p>`
      : page.kind === 'menu'
        ? page.items.map((i) => `<p><a href="${xmlEscape(i.url)}">${xmlEscape(i.label)}</a></p>`).join('\n')
        : page.kind === 'list'
        ? page.entries.map((e) => (e.number === '' ? `<p>${xmlEscape(e.label)}</p>` : `<p><a href="${xmlEscape(`tel://${e.number}`)}">${xmlEscape(e.label)}</a></p>`)).join('\n')
        : `<form action="${xmlEscape(page.submit)}" method="post">\n${page.fields
          .map((f) => `<p>${xmlEscape(f.prompt)}<br/><input type="${f.secret ? 'password' : 'text'}" name="${xmlEscape(f.name)}"/></p>`)
          .join('\n')}\n<p><input type="submit" value="${xmlEscape(page.title)}"/></p>\n</form>`
  return (
    `${XML_HEADER}\n<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Strict//EN" "http://www.w3.org/TR/xhtml1/DTD/xhtml1-strict.dtd">\n` +
    `<html xmlns="http://www.w3.org/1999/xhtml" lang="${lang}" xml:lang="${lang}">\n<head><title>${xmlEscape(page.title)}</title></head>\n<body>\n<p><b>${xmlEscape(page.title)}</b></p>\n${body}\n</body>\n</html>\n`
  )
}
