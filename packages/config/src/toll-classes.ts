import type { Section } from './validate-site'

/**
 * Toll classes: what kind of number a call dials. `emergency` (the site's emergency numbers) and
 * `internal` (extensions) are known without patterns; the others are numbers that leave through
 * the carrier, told apart by the site's `dial_plan.classes` patterns, tried from the most
 * expensive down: premium, international, mobile, national, local.
 */
export const TOLL_CLASSES = ['emergency', 'internal', 'local', 'national', 'mobile', 'international', 'premium'] as const
export type TollClass = (typeof TOLL_CLASSES)[number]

/** The classes of external numbers, in the order their patterns are tried. */
export const EXTERNAL_CLASSES = ['premium', 'international', 'mobile', 'national', 'local'] as const
export type ExternalClass = (typeof EXTERNAL_CLASSES)[number]

/** A site's toll classes (`dial_plan.classes` and `dial_plan.allow`). */
export interface TollClassConfig {
  /** Patterns (JavaScript regular expressions) of the external classes; a class without one has no numbers. */
  patterns: Partial<Record<ExternalClass, string>>
  /** Classes a flex desk may call while a worker is signed in at it (emergency always). */
  seated: TollClass[]
  /** Classes a phone that hosts no flex workers may call (a lobby phone, a meeting room; emergency always). */
  fixed: TollClass[]
}

/** Every class but premium: what a phone may call unless `dial_plan.allow` says otherwise. */
export const DEFAULT_ALLOWED: readonly TollClass[] = TOLL_CLASSES.filter((c) => c !== 'premium')

function checkClass(value: string): string | undefined {
  return (TOLL_CLASSES as readonly string[]).includes(value) ? undefined : `"${value}" is not a toll class (${TOLL_CLASSES.join(', ')})`
}

/** Reads `dial_plan.classes` and `dial_plan.allow` (both optional); undefined when the site has no classes. */
export function validateTollClasses(plan: Section, checkRegExp: (value: string) => string | undefined): TollClassConfig | undefined {
  const classes = plan.optionalSection('classes')
  const allow = plan.optionalSection('allow')
  if (classes === undefined) {
    if (allow !== undefined) throw plan.fail('allow', 'needs dial_plan.classes (the patterns of the classes it names)')
    return undefined
  }
  const patterns: Partial<Record<ExternalClass, string>> = {}
  for (const name of EXTERNAL_CLASSES) {
    const pattern = classes.optionalString(name, checkRegExp)
    if (pattern !== undefined) patterns[name] = pattern
  }
  classes.done()
  if (Object.keys(patterns).length === 0) throw plan.fail('classes', `must give a pattern for at least one of ${EXTERNAL_CLASSES.join(', ')}`)
  const list = (key: 'seated' | 'fixed'): TollClass[] => (allow?.has(key) ? (allow.strings(key, checkClass) as TollClass[]) : [...DEFAULT_ALLOWED])
  const config = { patterns, seated: list('seated'), fixed: list('fixed') }
  allow?.done()
  return config
}
