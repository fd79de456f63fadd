/**
 * Reads what a desk's file needs from the registry (through its gRPC API, like any client): the
 * seat at the device, the seated worker, the profiles that apply; then composes the file
 * (desk.ts, profiles.ts). Nothing is cached: a phone fetches its file after a seat change, and
 * must get the new one.
 */
import type { SiteConfig } from '@flexseat/config'
import { type Device, type FunctionKeyProfile, PhoneVendor, type Seat, type User } from '@flexseat/proto'
import { composeDesk, type Desk, type DeskFile, type SeatedWorker, type Vendor } from './desk'
import { pickProfile } from './profiles'

/** What the service asks of the registry (sip-node's RegistryClient, with the provisioning role's token). */
export interface ProvisioningRegistry {
  getDevice(key: { deviceId: string } | { mac: string }): Promise<Device | undefined>
  getDeviceCredentials(deviceId: string): Promise<{ realm: string; ha1: string }>
  getSeatAt(deviceId: string): Promise<Seat | undefined>
  getUser(userId: string): Promise<User | undefined>
  getFunctionKeyProfile(name: string): Promise<FunctionKeyProfile | undefined>
}

/** The family of a device. */
export function vendorOf(device: Device): Vendor {
  switch (device.vendor) {
    case PhoneVendor.PHONE_VENDOR_YEALINK:
      return 'yealink'
    case PhoneVendor.PHONE_VENDOR_SNOM:
      return 'snom'
    case PhoneVendor.PHONE_VENDOR_POLY:
      return 'poly'
    default:
      return 'generic'
  }
}

/** Where the site's phones register, from `sip.contact` (`sip:HOST:PORT;transport=udp,tcp`). */
export function registrarOf(site: SiteConfig): Desk['site']['registrar'] {
  const match = /^sips?:(?:[^@;]*@)?(\[[^\]]+\]|[^:;]+)(?::(\d+))?(?:;(.*))?$/.exec(site.sip.contact)
  const host = (match?.[1] ?? '127.0.0.1').replace(/^\[|\]$/g, '')
  const transports = /transport=([a-z,]+)/i.exec(match?.[3] ?? '')?.[1]?.toLowerCase().split(',') ?? ['udp']
  return { host, port: Number(match?.[2] ?? 5060), transport: transports.includes('udp') ? 'udp' : 'tcp' }
}

/** The desk of `device` at `site` (its app URLs given). */
export function deskOf(device: Device, site: SiteConfig, apps: Desk['apps'], year: number): Desk {
  return {
    deviceId: device.id,
    mac: device.mac ?? '',
    vendor: vendorOf(device),
    label: device.label !== '' ? device.label : device.id,
    extension: device.extension,
    flexHost: device.flexHost,
    site: { id: site.id, name: site.name, timezone: site.timezone, language: site.language ?? 'en', domain: site.sip.domain, registrar: registrarOf(site), blfList: site.provisioning?.blfList ?? false },
    apps,
    year,
  }
}

/** Reads the seat, the worker and the profiles, and composes the desk's file. */
export async function loadDeskFile(registry: ProvisioningRegistry, site: SiteConfig, desk: Desk, device: Device): Promise<DeskFile> {
  const profileByName = async (name: string | undefined): Promise<{ name: string; keys: FunctionKeyProfile['keys'] } | undefined> => {
    if (name === undefined || name === '') return undefined
    const profile = await registry.getFunctionKeyProfile(name)
    return profile === undefined ? undefined : { name, keys: profile.keys }
  }
  const siteDefault = () => profileByName(site.provisioning?.defaultProfile)
  // A lobby phone never changes: it is not asked about seats at all.
  const seat = device.flexHost ? await registry.getSeatAt(device.id) : undefined
  // A pending seat does not act at the desk yet (bounded revocation): the desk stays idle until the
  // seat is active, when the SIP node sends the phone another check-sync.
  const user = seat !== undefined && seat.pending.length === 0 ? await registry.getUser(seat.userId) : undefined
  if (seat === undefined || user === undefined) {
    return composeDesk(desk, undefined, pickProfile({ named: await profileByName(device.functionKeyProfile), siteDefault: await siteDefault() }))
  }
  const worker: SeatedWorker = { userId: user.id, extension: seat.extension, displayName: seat.displayName, label: user.label, language: user.language }
  const own = user.functionKeys
  const profile = own.length > 0 ? pickProfile({ own }) : pickProfile({ named: await profileByName(user.functionKeyProfile), siteDefault: await siteDefault() })
  return composeDesk(desk, worker, profile)
}
