/**
 * The records of a run directory (the interface between the chaos runner, packages/chaos, and
 * the checkers) and their parsers. Every file is JSON Lines: one object per line; a line that is
 * not a valid record is an error naming the file and the line, never skipped.
 */
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'

/** One client operation, as `history.jsonl` records it. */
export interface Operation {
  /** Unique request id (for gRPC writes, the registry's request id: `requests/<id>`). */
  id: string
  /** The client that made it (e.g. `sip:amsterdam:desk-3`, `grpc:2`): its ops never overlap. */
  process: string
  kind: 'login' | 'logout' | 'read'
  userId: string
  /** The desk of a login ("" for a read and for a logout by worker). */
  deviceId: string
  via: 'sip' | 'grpc'
  /** Wall-clock ms (one machine's clock for the whole run). */
  invokeMs: number
  /** null: it never returned (indeterminate). */
  completeMs: number | null
  /** `info`: indeterminate (it may or may not have taken effect). `fail`: it did not. */
  outcome: 'ok' | 'fail' | 'info'
  /** A read's result: where the worker's seat was (null: not seated). */
  result?: { deviceId: string | null }
  error?: string
  /**
   * The registry request ids the operation may have written under, where they are not `id`: a
   * `*51` at a phone writes under an id the SIP node derives from the INVITE (sip-node's
   * featureRequestId), one per request the node may have made for it (a sign-in is a Login, or a
   * RenewSeat where the worker sits already).
   */
  requestIds?: string[]
}

/** One event a watching client got from the registry's seat watch stream (`watch.jsonl`). */
export interface WatchEvent {
  client: string
  atMs: number
  revision: number
  userId: string
  deviceId: string | null
  type: string
  /** The first event after the client resumed its stream from a revision. */
  reconnect?: true
}

/** One thing a phone showed (`phones.jsonl`). */
export interface PhoneEvent {
  atMs: number
  deviceId: string
  event: 'ringing' | 'presenting' | 'revoked'
  userId: string
  callId?: string
}

/** One fault the nemesis injected (`faults.jsonl`). */
export interface Fault {
  name: string
  startMs: number
  endMs: number
  target: string
}

/** Where the run's etcd history is (`etcd.json`): etcd is still running when the check runs. */
export interface EtcdInfo {
  endpoints: string[]
  /** The registry's key prefix (Keys.prefix). */
  prefix: string
  /** The first revision of the run (the replay starts from the state just before it). */
  fromRevision: number
  /** The last revision of the run. */
  toRevision: number
}

/** What one checker found wrong. */
export interface Violation {
  checker: string
  message: string
  /** When it happened (wall-clock ms), where known. */
  atMs?: number
  /** The operation ids involved. */
  ops?: string[]
}

/** What a check found: the violations, and how many items each checker examined. */
export interface CheckReport {
  violations: Violation[]
  /**
   * Items examined per checker (revisions, operations, events...), so a report can show a
   * checker that saw nothing. A checker whose search was cut short by its bound reports
   * `unknown` in `unknown` instead of passing.
   */
  checked: Record<string, number>
  /** Checkers (or parts of them) that could not decide within their bounds: neither pass nor fail. */
  unknown?: { checker: string; message: string }[]
}

/** A record file that does not parse: names the file and the line. */
export class RunFileError extends Error {
  constructor(readonly file: string, readonly line: number, message: string) {
    super(line > 0 ? `${file}:${line}: ${message}` : `${file}: ${message}`)
    this.name = 'RunFileError'
  }
}



const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v)
const isNum = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v)
const isStr = (v: unknown): v is string => typeof v === 'string'

/** Why `v` is not an Operation, or undefined. */
export function operationProblem(v: unknown): string | undefined {
  if (!isObject(v)) return 'not an object'
  for (const f of ['id', 'process', 'userId', 'deviceId'] as const) if (!isStr(v[f])) return `"${f}" must be a string`
  if (v['id'] === '') return '"id" must not be empty'
  if (!['login', 'logout', 'read'].includes(v['kind'] as string)) return '"kind" must be login, logout or read'
  if (!['sip', 'grpc'].includes(v['via'] as string)) return '"via" must be sip or grpc'
  if (!isNum(v['invokeMs'])) return '"invokeMs" must be a number'
  if (v['completeMs'] !== null && !isNum(v['completeMs'])) return '"completeMs" must be a number or null'
  if (isNum(v['completeMs']) && v['completeMs'] < v['invokeMs']) return '"completeMs" is before "invokeMs"'
  if (!['ok', 'fail', 'info'].includes(v['outcome'] as string)) return '"outcome" must be ok, fail or info'
  if (v['result'] !== undefined) {
    const r = v['result']
    if (!isObject(r) || !(r['deviceId'] === null || isStr(r['deviceId']))) return '"result" must be { deviceId: string | null }'
  }
  if (v['requestIds'] !== undefined && !(Array.isArray(v['requestIds']) && v['requestIds'].every((id) => isStr(id) && id !== ''))) return '"requestIds" must be an array of non-empty strings'
  if (v['kind'] === 'read' && v['outcome'] === 'ok' && v['result'] === undefined) return 'an ok read needs "result"'
  if (v['kind'] === 'login' && v['deviceId'] === '') return 'a login needs "deviceId"'
  return undefined
}

export function watchEventProblem(v: unknown): string | undefined {
  if (!isObject(v)) return 'not an object'
  if (!isStr(v['client']) || !isStr(v['userId']) || !isStr(v['type'])) return '"client", "userId" and "type" must be strings'
  if (!isNum(v['atMs']) || !isNum(v['revision'])) return '"atMs" and "revision" must be numbers'
  if (!(v['deviceId'] === null || isStr(v['deviceId']))) return '"deviceId" must be a string or null'
  if (v['reconnect'] !== undefined && v['reconnect'] !== true) return '"reconnect" must be true or absent'
  return undefined
}

export function phoneEventProblem(v: unknown): string | undefined {
  if (!isObject(v)) return 'not an object'
  if (!isNum(v['atMs'])) return '"atMs" must be a number'
  if (!isStr(v['deviceId']) || !isStr(v['userId'])) return '"deviceId" and "userId" must be strings'
  if (!['ringing', 'presenting', 'revoked'].includes(v['event'] as string)) return '"event" must be ringing, presenting or revoked'
  if (v['callId'] !== undefined && !isStr(v['callId'])) return '"callId" must be a string'
  return undefined
}

export function faultProblem(v: unknown): string | undefined {
  if (!isObject(v)) return 'not an object'
  if (!isStr(v['name']) || !isStr(v['target'])) return '"name" and "target" must be strings'
  if (!isNum(v['startMs']) || !isNum(v['endMs'])) return '"startMs" and "endMs" must be numbers'
  return undefined
}

export function etcdInfoProblem(v: unknown): string | undefined {
  if (!isObject(v)) return 'not an object'
  if (!Array.isArray(v['endpoints']) || v['endpoints'].length === 0 || !v['endpoints'].every(isStr)) return '"endpoints" must be a non-empty list of strings'
  if (!isStr(v['prefix'])) return '"prefix" must be a string'
  if (!Number.isSafeInteger(v['fromRevision']) || !Number.isSafeInteger(v['toRevision'])) return '"fromRevision" and "toRevision" must be integers'
  if ((v['fromRevision'] as number) < 1 || (v['toRevision'] as number) < (v['fromRevision'] as number) - 1) return '"fromRevision" must be at least 1 and "toRevision" not before it'
  return undefined
}

/** Parses JSON Lines text (blank lines allowed), checking each record with `problem`. */
export function parseJsonl<T>(file: string, text: string, problem: (v: unknown) => string | undefined): T[] {
  const out: T[] = []
  const lines = text.split('\n')
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trim()
    if (line === '') continue
    let value: unknown
    try {
      value = JSON.parse(line)
    } catch (error) {
      throw new RunFileError(file, i + 1, `not JSON (${(error as Error).message})`)
    }
    const why = problem(value)
    if (why !== undefined) throw new RunFileError(file, i + 1, why)
    out.push(value as T)
  }
  return out
}

/** What a run directory holds, parsed. Files other than history.jsonl may be absent (empty). */
export interface RunRecords {
  ops: Operation[]
  watch: WatchEvent[]
  phones: PhoneEvent[]
  faults: Fault[]
  etcd?: EtcdInfo
}

async function readOptional(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8')
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw error
  }
}

/** Reads and validates a run directory. history.jsonl must exist; ids must be unique. */
export async function readRun(dir: string): Promise<RunRecords> {
  const historyText = await readOptional(join(dir, 'history.jsonl'))
  if (historyText === undefined) throw new RunFileError(join(dir, 'history.jsonl'), 0, 'missing: not a run directory')
  const ops = parseJsonl<Operation>('history.jsonl', historyText, operationProblem)
  const seen = new Set<string>()
  ops.forEach((op) => {
    if (seen.has(op.id)) throw new RunFileError('history.jsonl', 0, `operation id "${op.id}" appears twice`)
    seen.add(op.id)
  })
  const watch = parseJsonl<WatchEvent>('watch.jsonl', (await readOptional(join(dir, 'watch.jsonl'))) ?? '', watchEventProblem)
  const phones = parseJsonl<PhoneEvent>('phones.jsonl', (await readOptional(join(dir, 'phones.jsonl'))) ?? '', phoneEventProblem)
  const faults = parseJsonl<Fault>('faults.jsonl', (await readOptional(join(dir, 'faults.jsonl'))) ?? '', faultProblem)
  const etcdText = await readOptional(join(dir, 'etcd.json'))
  let etcd: EtcdInfo | undefined
  if (etcdText !== undefined) {
    let value: unknown
    try {
      value = JSON.parse(etcdText)
    } catch (error) {
      throw new RunFileError('etcd.json', 0, `not JSON (${(error as Error).message})`)
    }
    const why = etcdInfoProblem(value)
    if (why !== undefined) throw new RunFileError('etcd.json', 0, why)
    etcd = value as EtcdInfo
  }
  return { ops, watch, phones, faults, ...(etcd ? { etcd } : {}) }
}


