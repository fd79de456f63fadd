import { callList } from './call-list'
import { deskMenu } from './desk-menu'
import { SOFTKEY_APPS } from './guest'
import type { XmlApp } from './xml-app'

/** Every application the service serves by default: the softkey sign-in and sign-out, the call list, the desk menu. */
export const DESK_APPS: readonly XmlApp[] = [...SOFTKEY_APPS, callList, deskMenu]
