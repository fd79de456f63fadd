/** Alignment of a table column. */
export type Align = 'left' | 'right'

/** One column: its heading and alignment (default left). */
export interface Column {
  readonly heading: string
  readonly align?: Align
}

/** Display width of a string: code points, so that "Zoë" is three columns wide. */
function width(text: string): number {
  return [...text].length
}

function pad(text: string, size: number, align: Align): string {
  const fill = ' '.repeat(Math.max(0, size - width(text)))
  return align === 'right' ? fill + text : text + fill
}

/**
 * Lays rows out as an aligned plain-text table: a heading line, then one line per row, columns
 * separated by two spaces, no trailing blanks. Empty cells show as "-". Newlines and tabs in
 * cells become spaces, so one row stays one line. Returns the text with a final newline.
 */
export function formatTable(columns: readonly (Column | string)[], rows: readonly (readonly string[])[]): string {
  const cols: Column[] = columns.map((column) => (typeof column === 'string' ? { heading: column } : column))
  const cells = rows.map((row) => cols.map((_, i) => clean(row[i] ?? '')))
  const sizes = cols.map((column, i) => Math.max(width(column.heading), ...cells.map((row) => width(row[i] as string))))
  const line = (row: readonly string[]): string =>
    row
      .map((cell, i) => pad(cell, sizes[i] as number, cols[i]?.align ?? 'left'))
      .join('  ')
      .trimEnd()
  return [line(cols.map((column) => column.heading)), ...cells.map(line)].join('\n') + '\n'
}

function clean(cell: string): string {
  const text = cell.replace(/[\t\r\n]+/g, ' ')
  return text === '' ? '-' : text
}

/**
 * Lays out label/value pairs as two aligned columns (a record shown on its own). Pairs whose
 * value is undefined are left out; empty values show as "-".
 */
export function formatFields(fields: readonly (readonly [string, string | undefined])[]): string {
  const shown = fields.filter((field): field is readonly [string, string] => field[1] !== undefined)
  const size = Math.max(0, ...shown.map(([label]) => width(label)))
  return shown.map(([label, value]) => `${pad(label, size, 'left')}  ${clean(value)}`.trimEnd() + '\n').join('')
}

/**
 * A time for humans: ISO 8601 in UTC to the second ("2026-11-22T03:20:00Z"); "-" when unset.
 */
export function formatTime(time: Date | undefined): string {
  if (time === undefined || Number.isNaN(time.getTime())) return '-'
  return time.toISOString().replace(/\.\d{3}Z$/, 'Z')
}
