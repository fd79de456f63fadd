import { type FunctionKey, FunctionKeyType, PhoneVendor } from '@flexseat/proto'
import { UsageError } from './errors'

const TYPES: Readonly<Record<string, FunctionKeyType>> = {
  blf: FunctionKeyType.FUNCTION_KEY_TYPE_BLF,
  'speed-dial': FunctionKeyType.FUNCTION_KEY_TYPE_SPEED_DIAL,
  line: FunctionKeyType.FUNCTION_KEY_TYPE_LINE,
}

/**
 * Parses `--key TYPE:VALUE[:LABEL]` (`blf:1002:Alan`, `speed-dial:0301234567:Office`,
 * `line::Line`): the label is everything after the second colon. The registry checks the values.
 */
export function parseFunctionKey(text: string, command: string): FunctionKey {
  const first = text.indexOf(':')
  const type = TYPES[first < 0 ? text : text.slice(0, first)]
  if (type === undefined) throw new UsageError(`${command}: --key "${text.slice(0, 64)}" must start with blf:, speed-dial: or line:`, command)
  const rest = first < 0 ? '' : text.slice(first + 1)
  const second = rest.indexOf(':')
  return second < 0 ? { type, value: rest, label: '' } : { type, value: rest.slice(0, second), label: rest.slice(second + 1) }
}

/** A function key as `--key` takes it. */
export function formatFunctionKey(key: FunctionKey): string {
  const type = Object.keys(TYPES).find((name) => TYPES[name] === key.type) ?? 'unknown'
  return key.label === '' ? `${type}:${key.value}` : `${type}:${key.value}:${key.label}`
}

const VENDORS: Readonly<Record<string, PhoneVendor>> = {
  generic: PhoneVendor.PHONE_VENDOR_UNSPECIFIED,
  yealink: PhoneVendor.PHONE_VENDOR_YEALINK,
  snom: PhoneVendor.PHONE_VENDOR_SNOM,
  poly: PhoneVendor.PHONE_VENDOR_POLY,
}

/** `--vendor NAME` as the proto enum. */
export function parseVendor(text: string, command: string): PhoneVendor {
  const vendor = VENDORS[text.toLowerCase()]
  if (vendor === undefined) throw new UsageError(`${command}: --vendor must be one of ${Object.keys(VENDORS).join(', ')}`, command)
  return vendor
}

/** The vendor's name as `--vendor` takes it. */
export function vendorName(vendor: PhoneVendor): string {
  return Object.keys(VENDORS).find((name) => VENDORS[name] === vendor) ?? 'generic'
}
