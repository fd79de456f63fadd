import t from 'tap'
import { execFileSync } from 'node:child_process'
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, relative } from 'node:path'

// The generated code in packages/proto is committed and never edited: regenerating it from
// proto/ must give the same files, byte for byte, and proto/ must pass buf lint.
const root = join(__dirname, '..', '..')
const buf = join(root, 'node_modules', '.bin', 'buf')

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name)
    return statSync(path).isDirectory() ? files(path) : [path]
  })
}

t.test('proto/ passes buf lint', async (t) => {
  t.doesNotThrow(() => execFileSync(buf, ['lint'], { cwd: root, stdio: 'pipe' }))
})

t.test('the committed generated code equals a fresh generation', async (t) => {
  const out = mkdtempSync(join(tmpdir(), 'flexseat-gen-'))
  t.teardown(() => rmSync(out, { recursive: true, force: true }))
  execFileSync(buf, ['generate', '--output', out], { cwd: root, stdio: 'pipe' })
  const committed = join(root, 'packages', 'proto', 'src', 'gen')
  const fresh = join(out, 'packages', 'proto', 'src', 'gen')
  const names = (dir: string): string[] => files(dir).map((f) => relative(dir, f)).sort()
  t.same(names(fresh), names(committed), 'same set of files')
  for (const name of names(fresh)) {
    t.equal(readFileSync(join(committed, name), 'utf8'), readFileSync(join(fresh, name), 'utf8'), `${name} is up to date`)
  }
})

t.test('the committed descriptor set equals a fresh build', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'flexseat-desc-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const out = join(dir, 'flexseat.binpb')
  execFileSync(buf, ['build', '-o', out], { cwd: root, stdio: 'pipe' })
  t.ok(readFileSync(out).equals(readFileSync(join(root, 'packages', 'proto', 'descriptors', 'flexseat.binpb'))), 'descriptors/flexseat.binpb is up to date')
})
