// LAN discovery's settings and host rules, apart from the discovery itself
// (lan.ts): option checks use them without loading sockets, codecs or
// node:net (taken on first use here).
import { nodeNet } from '../core/builtins.js'

export const LAN_DEFAULT_GROUP = '239.255.80.52'
export const LAN_DEFAULT_PORT = 42052

export function isWildcardHost(host: string): boolean {
  return host === '0.0.0.0' || host === '::'
}

export function isLoopbackHost(host: string): boolean {
  const h = host.toLowerCase()
  return h === 'localhost' || h.startsWith('127.') || h === '::1' || h === '0:0:0:0:0:0:0:1'
}

/** An IPv4 multicast address (224.0.0.0/4). */
export function isMulticastIPv4(v: unknown): v is string {
  if (typeof v !== 'string' || !nodeNet().isIPv4(v)) return false
  const first = Number(v.split('.')[0])
  return first >= 224 && first <= 239
}

/** Why a node listening on `host` cannot take part in LAN discovery (a phrase after "lan.enabled"), or undefined. */
export function lanHostProblem(host: string): string | undefined {
  if (isLoopbackHost(host)) return `needs a host on the local network, but host is ${JSON.stringify(host)} (loopback): listen on "0.0.0.0" or on this machine's LAN address`
  if (nodeNet().isIPv6(host) && !isWildcardHost(host)) return `is IPv4 only, but host is the IPv6 address ${JSON.stringify(host)}: listen on "0.0.0.0" or on an IPv4 LAN address`
  return undefined
}

/**
 * Where a node sends and what it announces: bound to one IPv4 address, it
 * sends on that interface; bound to every address (or a host name), on the
 * system's default multicast interface. It announces its advertised host,
 * unless that is a loopback or wildcard address, which nobody else can
 * dial: then none, and receivers dial the address the beacon came from.
 */
export function lanEndpoint(host: string, advertiseHost: string): { iface: string | undefined; hosts: string[] } {
  const iface = nodeNet().isIPv4(host) && !isWildcardHost(host) ? host : undefined
  const hosts = isLoopbackHost(advertiseHost) || isWildcardHost(advertiseHost) ? [] : [advertiseHost]
  return { iface, hosts }
}
