/**
 * Who ran this branch's node before, on this host. Each node process is a new lease holder (a new
 * node id), so after a crash the registry kept the branch's confirmation lease for the dead
 * process until it expired (`LEASE_HELD`): the branch's flex seats stayed suspended for up to a
 * lease. With a state folder (FLEXSEAT_SIP_NODE_STATE_DIR) the node records its id and pid in
 * `<dir>/node.json` at start; the next process reads it and, when that process is provably dead,
 * releases its lease at once (ReleaseLease under the dead process' node id), as that process
 * would have on a clean stop. Safety rests on "dead": a process that is alive, or only paused
 * (SIGSTOP), or whose pid cannot be told apart from a live one, is never released for — the new
 * node then waits for the lease like before. The record stays after a clean stop: that process
 * released its lease already, and releasing it again is a no-op.
 */
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises'
import { join } from 'node:path'

/** Stored at `<state dir>/node.json` while a node process runs. */
interface NodeRecord {
  siteId: string
  nodeId: string
  pid: number
  startedAt: string
}

const FILE = 'node.json'

/** What {@link claimNodeRecord} found of the previous process. */
export type PreviousNode =
  /** No record (first start, or the last process stopped cleanly), or one of another site. */
  | { kind: 'none' }
  /** The previous process is dead: its lease may be released. */
  | { kind: 'dead'; nodeId: string; pid: number }
  /** A process with the recorded pid runs: maybe the previous node, maybe not; left alone. */
  | { kind: 'alive'; nodeId: string; pid: number }

/**
 * Whether a process with `pid` exists (signal 0 reaches it, or it exists but belongs to another
 * user). A pid reused by another process reads as alive: the safe direction (no takeover).
 */
export function processExists(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM'
  }
}

/**
 * Reads the previous record in `dir` and replaces it with this process' (written to a temporary
 * file and renamed, so a crash leaves either record whole). A recorded pid equal to this
 * process' own is dead by definition (pids are unique among live processes: in a container the
 * node runs as pid 1 after every restart).
 */
export async function claimNodeRecord(
  dir: string,
  self: { siteId: string; nodeId: string; pid?: number },
  exists: (pid: number) => boolean = processExists,
): Promise<PreviousNode> {
  await mkdir(dir, { recursive: true, mode: 0o700 })
  const path = join(dir, FILE)
  let previous: PreviousNode = { kind: 'none' }
  try {
    const record = JSON.parse(await readFile(path, 'utf8')) as Partial<NodeRecord>
    if (record.siteId === self.siteId && typeof record.nodeId === 'string' && Number.isSafeInteger(record.pid) && (record.pid as number) > 0) {
      const pid = record.pid as number
      const own = self.pid ?? process.pid
      previous = pid === own || !exists(pid) ? { kind: 'dead', nodeId: record.nodeId, pid } : { kind: 'alive', nodeId: record.nodeId, pid }
    }
  } catch {
    // No record, or an unreadable one: nothing to take over.
  }
  const record: NodeRecord = { siteId: self.siteId, nodeId: self.nodeId, pid: self.pid ?? process.pid, startedAt: new Date().toISOString() }
  const temporary = `${path}.${process.pid}.tmp`
  await writeFile(temporary, `${JSON.stringify(record)}\n`, { mode: 0o600 })
  await rename(temporary, path)
  return previous
}
