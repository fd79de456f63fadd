import { CliError } from './errors'
import { ExitCode } from './exit-codes'

/** Where PINs are read from: stdin, and stderr for prompts. */
export interface PinSource {
  readonly input: NodeJS.ReadableStream & { isTTY?: boolean; setRawMode?: (mode: boolean) => unknown }
  /** Prompts go here (stderr, so that stdout stays clean for --json). */
  readonly output: NodeJS.WritableStream
}

/** One PIN to read. */
export interface PinPrompt {
  /** Shown on a terminal, e.g. "new PIN". */
  readonly label: string
  /** On a terminal, ask twice and insist both agree (for a PIN being set). */
  readonly confirm?: boolean
}

/**
 * Reads PINs. On a terminal each is prompted for on `output` and typed without echo; otherwise
 * they are the first lines of the input, one per prompt, in order (no confirmation). Surrounding
 * blanks and CR are stripped. PINs are never echoed or put in an error message.
 */
export async function readPins(source: PinSource, prompts: readonly PinPrompt[]): Promise<string[]> {
  if (source.input.isTTY === true && typeof source.input.setRawMode === 'function') {
    const pins: string[] = []
    for (const prompt of prompts) {
      const pin = await readHidden(source, `${prompt.label}: `)
      if (prompt.confirm === true) {
        const again = await readHidden(source, `repeat ${prompt.label}: `)
        if (again !== pin) throw new CliError(`the two entries of the ${prompt.label} differ`, ExitCode.Usage)
      }
      pins.push(pin)
    }
    return pins
  }
  const lines = await readLines(source.input, prompts.length)
  if (lines.length < prompts.length) {
    const missing = prompts[lines.length]?.label ?? 'PIN'
    throw new CliError(`expected the ${missing} on stdin (one PIN per line)`, ExitCode.Usage)
  }
  return lines.map((line) => line.trim())
}

/** The first `count` lines of a stream (fewer if it ends first). Stops reading after them. */
export function readLines(input: NodeJS.ReadableStream, count: number): Promise<string[]> {
  return new Promise((resolve, reject) => {
    let text = ''
    const finish = (): void => {
      input.removeListener('data', onData)
      input.removeListener('end', onEnd)
      input.removeListener('error', onError)
      input.pause()
      const lines = text.split('\n')
      const complete = lines.slice(0, count).map((line) => line.replace(/\r$/, ''))
      resolve(complete.filter((line, i) => i < lines.length - 1 || line !== ''))
    }
    const onData = (chunk: Buffer | string): void => {
      text += chunk.toString()
      if (text.split('\n').length > count) finish()
    }
    const onEnd = (): void => finish()
    const onError = (error: Error): void => {
      input.removeListener('data', onData)
      input.removeListener('end', onEnd)
      reject(new CliError(`cannot read stdin: ${error.message}`, ExitCode.Usage, { cause: error }))
    }
    input.on('data', onData)
    input.once('end', onEnd)
    input.once('error', onError)
    input.resume()
  })
}

/** Reads one line from a terminal in raw mode, echoing nothing. Ctrl-C interrupts, Ctrl-D on an empty line ends. */
function readHidden(source: PinSource, prompt: string): Promise<string> {
  const input = source.input
  // Raw mode (no echo) before the prompt: what is typed after seeing it is never shown.
  input.setRawMode?.(true)
  source.output.write(prompt)
  return new Promise((resolve, reject) => {
    let value = ''
    const done = (error?: Error): void => {
      input.removeListener('data', onData)
      input.setRawMode?.(false)
      input.pause()
      source.output.write('\n')
      if (error) reject(error)
      else resolve(value)
    }
    const onData = (chunk: Buffer | string): void => {
      for (const char of chunk.toString()) {
        if (char === '\r' || char === '\n') return done()
        if (char === '\u0003') return done(new CliError('interrupted', ExitCode.Interrupted))
        if (char === '\u0004' && value === '') return done(new CliError('no PIN entered', ExitCode.Usage))
        if (char === '\u007f' || char === '\b') value = value.slice(0, -1)
        else if (char >= ' ') value += char
      }
    }
    input.on('data', onData)
    input.resume()
  })
}
