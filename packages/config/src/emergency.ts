import type { CivicAddress, EmergencyConfig } from './site-config'
import { checkSipUri } from './sip-uri'
import type { Section } from './validate-site'

/** ISO 3166-1 alpha-2, as RFC 5139 wants the country (upper case). */
const COUNTRY = /^[A-Z]{2}$/
/** A security desk given as an extension: 2 to 15 digits, like every extension. */
const EXTENSION = /^[0-9]{2,15}$/
const E164 = /^\+[1-9][0-9]{1,14}$/
/** A civic address part: at most 64 characters, no control characters, not only spaces. */
// eslint-disable-next-line no-control-regex
const PART = /^(?=.*\S)[^\x00-\x1f\x7f]{1,64}$/

/** The civic address keys of a site file, and the {@link CivicAddress} field each fills. */
const ADDRESS_KEYS: readonly (readonly [string, Exclude<keyof CivicAddress, 'country'>])[] = [
  ['state', 'state'],
  ['county', 'county'],
  ['city', 'city'],
  ['district', 'district'],
  ['street', 'street'],
  ['street_suffix', 'streetSuffix'],
  ['house_number', 'houseNumber'],
  ['house_number_suffix', 'houseNumberSuffix'],
  ['postal_code', 'postalCode'],
  ['building', 'building'],
  ['name', 'name'],
]

const part = (value: string): string | undefined => (PART.test(value) ? undefined : `"${value}" must be 1 to 64 characters without control characters`)

/**
 * The `emergency` section of a site file (docs/CONFIGURATION.md): `security_desk` (an extension
 * or a SIP URI), `callback_number` (E.164), `civic_address` (`country`, two upper-case letters,
 * required there; `state`, `county`, `city`, `district`, `street`, `street_suffix`,
 * `house_number`, `house_number_suffix`, `postal_code`, `building`, `name`). Unknown keys are
 * refused like everywhere in the file.
 */
export function validateEmergency(section: Section | undefined): EmergencyConfig | undefined {
  if (section === undefined) return undefined
  const securityDesk = section.optionalString('security_desk', (v) => (EXTENSION.test(v) || checkSipUri(v) === undefined ? undefined : `"${v}" must be an extension (2 to 15 digits) or a sip: URI`))
  const callbackNumber = section.optionalString('callback_number', (v) => (E164.test(v) ? undefined : `"${v}" must be an E.164 number such as +13125550100`))
  const addressSection = section.optionalSection('civic_address')
  let civicAddress: CivicAddress | undefined
  if (addressSection !== undefined) {
    civicAddress = { country: addressSection.string('country', (v) => (COUNTRY.test(v) ? undefined : `"${v}" must be two upper-case letters (ISO 3166-1, e.g. US)`)) }
    for (const [key, field] of ADDRESS_KEYS) {
      const value = addressSection.optionalString(key, part)
      if (value !== undefined) civicAddress[field] = value
    }
    addressSection.done()
  }
  section.done()
  return {
    ...(securityDesk === undefined ? {} : { securityDesk }),
    ...(callbackNumber === undefined ? {} : { callbackNumber }),
    ...(civicAddress === undefined ? {} : { civicAddress }),
  }
}
