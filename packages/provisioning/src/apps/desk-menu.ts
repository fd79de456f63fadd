/**
 * The desk menu: one page linking the seated worker's applications, the sign-out and the call
 * list, for a phone whose file can open only one application. A Poly phone has one application
 * soft key, which opens its microbrowser's home page (`mb.main.home`, renderers/poly.ts): on a
 * seated desk that home is this menu, so the worker reaches the call list there (the other
 * families have a Calls key of their own), and signing out is an item chosen on the page rather
 * than the key's press itself (the phone's own Applications menu opens the same home page).
 */
import { CALLS_LABEL } from '../desk'
import type { Page } from './pages'
import type { AppRequest, XmlApp } from './xml-app'

export const DESK_MENU_TITLE = 'Your desk'
export const SIGN_OUT_ITEM = 'Sign out'

export const deskMenu: XmlApp = {
  name: 'desk-menu',
  handle(request: AppRequest): Promise<Page> {
    // Static links under the phone's own token: each application checks the seat when opened.
    return Promise.resolve({
      kind: 'menu',
      title: DESK_MENU_TITLE,
      items: [
        { label: SIGN_OUT_ITEM, url: request.url('guest-out') },
        { label: CALLS_LABEL, url: request.url('call-list') },
      ],
    })
  },
}
