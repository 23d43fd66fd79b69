// LAN discovery (opt-in, option lan): a node multicasts a signed beacon on
// its local network at start and every lan.intervalMs (jittered), and links
// to the nodes whose beacons it hears, so nodes on one LAN form an overlay
// with no bootstrap. A beacon is only a hint: it passes the checks of
// lan-filter.ts and this node's trust policy, then its address is dialled
// through the link dialer (with its backoff) and the node there must prove
// the beacon's identity key in the Noise handshake. The socket comes from a
// DatagramTransport: udp (node:dgram) by default, an in-memory segment in tests.
import type { Timer } from '../core/clock.js'
import { sameBytes, toHex } from '../core/bytes.js'
import { P4Error } from '../core/errors.js'
import type { DatagramTransport, MulticastSocket } from '../transport/datagram.js'
import { udp } from '../transport/udp.js'
import type { Address } from '../transport/types.js'
import type { Core, Directory, Sessions, Upkeep } from './context.js'
import { encodeBeacon, type Beacon } from './lan-codec.js'
import { isWildcardHost, lanEndpoint } from './lan-config.js'
import { BeaconFilter, type LanRejectReason } from './lan-filter.js'
import type { LanConfig } from './types.js'

export type { LanConfig }

export { isLoopbackHost, isMulticastIPv4, isWildcardHost, LAN_DEFAULT_GROUP, LAN_DEFAULT_PORT, lanEndpoint, lanHostProblem } from './lan-config.js'

/** Beacons never leave the local network. */
const LAN_TTL = 1
/**
 * LAN dials in progress at once. A node that hears many beacons at start
 * links a few of their senders, then learns the rest from their user tables.
 */
const MAX_LAN_DIALS = 2

export class LanDiscovery {
  private socket: MulticastSocket | null = null
  private opening = false
  private timer: Timer | null = null
  private stopped = false
  /** Time stamped on the last beacon sent (each next one is later). */
  private lastTime = 0
  private dials = 0
  /** Warned about the current run of open (or send) failures. */
  private openWarned = false
  private sendWarned = false
  /** The interface addresses when the socket was opened (wildcard binds: reopened when they change). */
  private addresses = ''
  private readonly filter: BeaconFilter
  private readonly endpoint: { iface: string | undefined; hosts: string[] }
  private readonly transport: DatagramTransport

  constructor(
    private readonly core: Core,
    private readonly lan: LanConfig,
    private readonly s: { table: Sessions; directory: Directory; upkeep: Upkeep },
  ) {
    const cfg = core.cfg
    this.endpoint = lanEndpoint(cfg.host, cfg.advertiseHost)
    this.transport = lan.transport ?? udp
    this.filter = new BeaconFilter(cfg.identity.publicKey, cfg.timers.clockSkewMs, (b) => this.admit(b), core.clock.now())
  }

  /** Opens the socket and sends the first beacon (once open); then one every intervalMs. */
  start(): void {
    const { cfg } = this.core
    if (isWildcardHost(cfg.host) && this.endpoint.hosts.length === 0) {
      this.core.emit(
        'warning',
        new P4Error(
          'UNREACHABLE',
          `LAN discovery: this node listens on ${cfg.host} and advertises ${cfg.advertiseHost} in its HELLO, so LAN peers link to it from its beacons but cannot open direct sessions to it; set advertiseHost (--advertise-host) to this machine's LAN address`,
        ),
      )
    }
    this.tick()
  }

  /**
   * The addresses this node can be reached at changed: rejoin the group
   * (the default interface may be another one now) and announce at once.
   */
  addressChanged(): void {
    if (this.stopped) return
    this.socket?.close()
    this.socket = null
    this.core.clock.clearTimeout(this.timer)
    this.tick()
  }

  stop(): void {
    this.stopped = true
    this.core.clock.clearTimeout(this.timer)
    this.timer = null
    this.socket?.close()
    this.socket = null
  }

  /** Entries the receiving checks hold (bounded: LAN_LIMITS). */
  sizes(): { sources: number; keys: number; senders: number } {
    return this.filter.sizes()
  }

  private tick(): void {
    if (this.stopped) return
    const { clock, cfg } = this.core
    this.timer = clock.setTimeout(() => this.tick(), this.lan.intervalMs * (0.75 + 0.5 * cfg.random()))
    this.timer.unref?.()
    if (this.socket !== null && this.endpoint.iface === undefined && this.interfaceAddresses() !== this.addresses) {
      this.core.log('LAN: interface addresses changed (%s): rejoining the group', this.interfaceAddresses())
      return this.addressChanged()
    }
    if (this.socket !== null) this.send()
    else void this.open()
  }

  private interfaceAddresses(): string {
    return this.transport.addresses?.().join(',') ?? ''
  }

  private async open(): Promise<void> {
    if (this.opening) return
    this.opening = true
    const { group, port } = this.lan
    const addresses = this.interfaceAddresses()
    try {
      const socket = await this.transport.openMulticast(
        { group, port, iface: this.endpoint.iface, ttl: LAN_TTL, loopback: false },
        { message: (data, from) => this.receive(data, from), error: (err) => this.sendFailed(err) },
      )
      if (this.stopped) return socket.close()
      this.socket = socket
      this.addresses = addresses
      this.openWarned = false
      this.sendWarned = false
      this.send()
    } catch (err) {
      this.core.stats.lanOpenFailures++
      this.core.log('LAN: cannot open the multicast socket: %s', (err as Error).message)
      if (this.openWarned) return
      this.openWarned = true
      const where = `${group}:${port}${this.endpoint.iface ? ` on ${this.endpoint.iface}` : ''}`
      this.core.emit(
        'warning',
        new P4Error('IO_ERROR', `LAN discovery: cannot open multicast ${where} (${(err as Error).message}); is there a multicast route (ip route add 224.0.0.0/4 dev <interface>)? Retrying every ${this.lan.intervalMs} ms`, { cause: err }),
      )
    } finally {
      this.opening = false
    }
  }

  private send(): void {
    const { cfg, clock, stats } = this.core
    const port = this.core.listenPort
    if (this.socket === null || port === 0) return
    const time = Math.max(Math.floor(clock.wall()), this.lastTime + 1)
    this.lastTime = time
    const beacon = encodeBeacon(cfg.identity, {
      identityKey: cfg.identity.publicKey,
      time,
      username: cfg.username,
      port,
      hosts: this.endpoint.hosts,
      certificate: cfg.certificate ?? new Uint8Array(0),
    })
    this.socket.send(beacon)
    stats.lanSent++
  }

  private sendFailed(err: Error): void {
    this.core.stats.lanSendErrors++
    this.core.log('LAN: send failed: %s', err.message)
    if (this.sendWarned || this.stopped) return
    this.sendWarned = true
    this.core.emit('warning', new P4Error('IO_ERROR', `LAN discovery: cannot send beacons: ${err.message}`, { cause: err }))
  }

  private receive(data: Uint8Array, from: Address): void {
    const { clock, stats } = this.core
    if (this.stopped || !this.core.running) return
    stats.lanReceived++
    const r = this.filter.check(data, from.host, clock.now(), clock.wall())
    if (r.reason !== undefined) return this.reject(r.reason, from)
    stats.lanAccepted++
    this.consider(r.beacon, from.host)
  }

  private reject(reason: LanRejectReason, from: Address): void {
    const stats = this.core.stats
    stats.lanRejected++
    stats.lanRejectReasons[reason] = (stats.lanRejectReasons[reason] ?? 0) + 1
    this.core.log('LAN: beacon from %s:%d ignored: %s', from.host, from.port, reason)
  }

  /** Checks an authentic beacon as a HELLO would be: the name's key in the user table, then the trust policy. */
  private admit(b: Beacon): LanRejectReason | undefined {
    const known = this.s.directory.lka.get(b.username)
    if (known !== undefined && !sameBytes(known.identityKey, b.identityKey)) return 'nameTaken'
    try {
      this.s.table.checkTrust(b.username, b.identityKey, b.certificate.length > 0 ? b.certificate : undefined, true)
    } catch {
      return 'untrusted'
    }
    return undefined
  }

  /**
   * Links the sender unless already linked, at links.max, or (at links.min
   * or more) already in this node's component (its user is online here):
   * beacons from a group this node has not met heal a split LAN.
   */
  private consider(b: Beacon, source: string): void {
    const { table, directory, upkeep } = this.s
    const links = this.core.cfg.links
    if (table.links.has(toHex(b.identityKey)) || table.links.size >= links.max) return
    if (table.links.size >= links.min && directory.lka.get(b.username)?.online === true) return
    if (this.dials >= MAX_LAN_DIALS) return
    // The address it came from, unless the sender names others (an advertised host).
    const host = b.hosts.length === 0 || b.hosts.includes(source) ? source : b.hosts[0]!
    const dial = upkeep.dialHint(host, b.port, b.identityKey)
    if (dial === undefined) return
    this.core.stats.lanDialed++
    this.dials++
    void dial.finally(() => this.dials--)
  }
}
