/** Small statistics for benchmarks: percentiles of latency samples, process memory. */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'

/** The p-th percentile (0..100) of `samples` by nearest rank; NaN when empty. */
export function percentile(samples: readonly number[], p: number): number {
  if (samples.length === 0) return Number.NaN
  const sorted = [...samples].sort((a, b) => a - b)
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))
  return sorted[rank]!
}

/** Median and p99 in milliseconds, rounded to 0.1 ms. */
export function summary(samples: readonly number[]): { n: number; medianMs: number; p99Ms: number } {
  const round = (x: number): number => Math.round(x * 10) / 10
  return { n: samples.length, medianMs: round(percentile(samples, 50)), p99Ms: round(percentile(samples, 99)) }
}

/** Resident set size of a process in MiB (from /proc), or NaN when it is gone. */
export function rssMiB(pid: number): number {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8')
    const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1])
    return Math.round((kb / 1024) * 10) / 10
  } catch {
    return Number.NaN
  }
}

/** Milliseconds since `start` (a performance.now() value). */
export function since(start: number): number {
  return performance.now() - start
}

/** CPU time (user + system) a process has used so far, in ms (from /proc), or NaN when it is gone. */
export function cpuMs(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    // Fields after the command name (which may hold spaces): utime and stime are the 12th and 13th.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    const ticksPerSecond = 100
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / ticksPerSecond
  } catch {
    return Number.NaN
  }
}

/**
 * Node 20 refuses --cpu-prof in NODE_OPTIONS: this preload (`NODE_OPTIONS=--require <file>`)
 * starts the V8 profiler through the inspector and writes `<argv[1]'s name>-<pid>.cpuprofile`
 * into `dir` when the process exits (a process ended by SIGKILL writes none).
 */
export function cpuProfilePreload(dir: string): string {
  mkdirSync(dir, { recursive: true })
  const file = join(dir, 'cpu-profile-preload.cjs')
  writeFileSync(
    file,
    `const inspector = require('node:inspector'); const fs = require('node:fs'); const path = require('node:path');
const session = new inspector.Session(); session.connect();
session.post('Profiler.enable', () => session.post('Profiler.start'));
const name = (process.argv[1] || 'node').split(path.sep).slice(-3, -2)[0] || 'node';
let done = false;
process.on('exit', () => {
  if (done) return; done = true;
  session.post('Profiler.stop', (error, result) => {
    if (!error) fs.writeFileSync(${JSON.stringify(dir)} + '/' + name + '-' + process.pid + '.cpuprofile', JSON.stringify(result.profile));
  });
});
`,
  )
  return file
}

/**
 * A preload (`NODE_OPTIONS=--require <file>`) that profiles a window only: each SIGUSR2 starts the
 * V8 profiler (200 µs sampling) or, when it runs, stops it and writes
 * `registry-<pid>-<n>.cpuprofile` (n = 1, 2, ...) into `dir`. For the timed part of a benchmark,
 * without the process' start and the seeding.
 */
export function cpuProfileWindowPreload(dir: string): string {
  mkdirSync(dir, { recursive: true })
  const file = join(dir, 'cpu-profile-window-preload.cjs')
  writeFileSync(
    file,
    `const inspector = require('node:inspector'); const fs = require('node:fs');
const session = new inspector.Session(); session.connect(); session.post('Profiler.enable');
let on = false; let n = 0;
process.on('SIGUSR2', () => {
  if (!on) { on = true; session.post('Profiler.setSamplingInterval', { interval: 200 }, () => session.post('Profiler.start')); return }
  on = false; n += 1; const at = ${JSON.stringify(dir)} + '/registry-' + process.pid + '-' + n + '.cpuprofile';
  session.post('Profiler.stop', (error, result) => { if (!error) fs.writeFileSync(at, JSON.stringify(result.profile)) });
});
`,
  )
  return file
}
