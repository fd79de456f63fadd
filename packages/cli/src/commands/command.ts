import { randomUUID } from 'node:crypto'
import type { CallClasses } from '@flexseat/proto'
import type { CommandInput, OptionName } from '../args'
import type { RegistryClient } from '../client'
import { UsageError } from '../errors'
import type { ExitCode } from '../exit-codes'
import type { PinPrompt } from '../pin-input'

/** What a command gets to do its work: its input, the registry, and the output streams. */
export interface CommandContext {
  readonly input: CommandInput
  /** Machine output was asked for (--json). */
  readonly json: boolean
  /** Aborted on SIGINT. */
  readonly signal: AbortSignal
  /** The environment the CLI runs in. */
  readonly env: Readonly<Record<string, string | undefined>>
  /** The registry client, connected on first use. */
  client(): RegistryClient
  /** Writes text to stdout as is. */
  print(text: string): void
  /** Writes one JSON document to stdout (indented, or one line when `line` is set). */
  printJson(document: unknown, line?: boolean): void
  /** Writes a notice line to stderr ("flexseat: " prefixed). */
  notice(text: string): void
  /** Reads PINs from stdin (prompted without echo on a terminal). */
  readPins(prompts: readonly PinPrompt[]): Promise<string[]>
  /** The clock (for receipt times). */
  now(): Date
}

/** One command: where it sits in the command tree, its usage, the options it takes, its work. */
export interface CommandSpec {
  /** The command words, e.g. ["user", "create"]. */
  readonly path: readonly string[]
  /** Synopsis of the positionals and required options, e.g. "<id> --ext N". */
  readonly synopsis: string
  /** One line saying what it does. */
  readonly summary: string
  /** More usage text: notes, examples. */
  readonly details?: string
  /** The command's own options (the global ones come on top). */
  readonly options: readonly OptionName[]
  /** How many positionals it takes after the command words (default none). */
  readonly positionals?: { readonly min: number; readonly max: number; readonly names: string }
  /** Does the work. Resolves to the exit code (default 0) or throws (see describeFailure). */
  run(context: CommandContext): Promise<ExitCode | void>
}

/** A fresh id for a mutating request; retries of the request reuse it. */
export function newRequestId(): string {
  return randomUUID()
}

/**
 * The PIN of a command that sets or proves one: `--pin` as given, `--pin-stdin` read from stdin;
 * when neither is given, read from stdin if `required`, else undefined (e.g. an admin login,
 * which needs no PIN).
 */
export async function pinOption(context: CommandContext, prompt: PinPrompt, required: boolean): Promise<string | undefined> {
  const { input } = context
  if (input.has('pin') && input.flag('pin-stdin')) throw new UsageError(`${input.command}: give --pin or --pin-stdin, not both`, input.command)
  const given = input.string('pin')
  if (given !== undefined) return given
  if (!input.flag('pin-stdin') && !required) return undefined
  const [pin] = await context.readPins([prompt])
  return pin
}

/** The single positional argument of a command (its record id). */
export function idArgument(context: CommandContext): string {
  const id = context.input.positionals[0]
  if (id === undefined || id === '') throw new UsageError(`${context.input.command}: missing the id`, context.input.command)
  return id
}

/** How one option maps to a field of a record and its update-mask path. */
export interface FieldOption<R> {
  readonly option: OptionName
  /** Its twin that sets the boolean false (e.g. --no-roaming). */
  readonly off?: OptionName
  readonly field: keyof R & string
  /** The proto field name, as update_mask paths name it. */
  readonly path: string
  readonly kind: 'string' | 'integer' | 'boolean' | 'list'
}

/**
 * The record fields the command line sets, and their update-mask paths (proto field names), in
 * the order of `fields`. Only given options appear: an update changes nothing else.
 */
export function fieldsFromOptions<R>(input: CommandInput, fields: readonly FieldOption<R>[]): { values: Partial<R>; paths: string[] } {
  const values: Partial<Record<string, unknown>> = {}
  const paths: string[] = []
  for (const f of fields) {
    let value: unknown
    switch (f.kind) {
      case 'string':
        value = input.string(f.option)
        break
      case 'integer':
        value = input.integer(f.option)
        break
      case 'boolean':
        value = f.off === undefined ? (input.flag(f.option) ? true : undefined) : input.toggle(f.option, f.off)
        break
      case 'list':
        value = input.list(f.option)
        break
    }
    if (value === undefined) continue
    values[f.field] = value
    paths.push(f.path)
  }
  return { values: values as Partial<R>, paths }
}

/**
 * `--classes` (users and devices): the toll classes it may call, as a CallClasses; `--classes
 * site` unsets them (the site's `dial_plan.allow` applies). Nothing when the option is absent.
 */
export function classesFromOptions(input: CommandInput): { values: { callClasses?: CallClasses | undefined }; paths: string[] } {
  const list = input.list('classes')
  if (list === undefined) return { values: {}, paths: [] }
  if (list.length === 1 && list[0] === 'site') return { values: { callClasses: undefined }, paths: ['call_classes'] }
  return { values: { callClasses: { classes: list } }, paths: ['call_classes'] }
}
