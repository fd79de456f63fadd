import { copyFile, mkdtemp, readdir, readFile, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseDocument } from 'yaml'
import { freePorts } from '@flexseat/sim'

/** The example sites of the repository. */
export const SITES_DIR = join(__dirname, '..', '..', 'sites')

/**
 * Copies sites/ into a fresh temporary folder with every port (etcd client and peer, registry,
 * SIP contact, control and trunk, provisioning, portal) moved to a free loopback port, so that a test can run the
 * sites beside a developer's `npm start` and beside other tests.
 */
export async function copySitesOnFreePorts(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'flexseat-sites-'))
  const names = (await readdir(SITES_DIR)).filter((name) => name.endsWith('.yaml')).sort()
  const ports = await freePorts(names.length * 5)
  let next = 0
  const take = (): number => ports[next++] as number
  for (const name of names) {
    const document = parseDocument(await readFile(join(SITES_DIR, name), 'utf8'))
    const [client, peer, registry, sip, control] = [take(), take(), take(), take(), take()]
    document.setIn(['etcd', 'client_url'], `http://127.0.0.1:${client}`)
    document.setIn(['etcd', 'peer_url'], `http://127.0.0.1:${peer}`)
    document.setIn(['registry', 'listen'], `127.0.0.1:${registry}`)
    document.setIn(['sip', 'contact'], `sip:127.0.0.1:${sip};transport=udp,tcp`)
    document.setIn(['sip', 'control'], `127.0.0.1:${control}`)
    document.setIn(['sip', 'trunk_uri'], `sip:127.0.0.1:${sip}`)
    // Port 0: the provisioning service takes a free one and says which (the map shows it).
    if (document.has('provisioning')) document.setIn(['provisioning', 'listen'], '127.0.0.1:0')
    if (document.has('portal')) document.setIn(['portal', 'listen'], '127.0.0.1:0')
    await writeFile(join(dir, name), document.toString())
  }
  return dir
}

/**
 * Copies sites/ as it is into a fresh temporary folder (the multi-host mode moves every site to
 * an address of its own, so the configured ports cannot collide with anything on loopback).
 */
export async function copySites(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'flexseat-sites-'))
  for (const name of (await readdir(SITES_DIR)).filter((n) => n.endsWith('.yaml'))) await copyFile(join(SITES_DIR, name), join(dir, name))
  return dir
}
