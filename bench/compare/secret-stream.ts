// @hyperswarm/secret-stream over node:net: Noise XX (Ed25519) handshake, then
// libsodium secretstream (XChaCha20-Poly1305). Each write() is one message
// (u24 length prefix, encrypted, one socket write); 'data' delivers it whole.
// Each end keeps one key pair for all its connections, as p4net keeps one
// identity, so connection setup is not charged a key generation.
import { createRequire } from 'node:module'
import type { Socket } from 'node:net'
import { rawDial, rawListen } from '../net-baseline.js'
import { nextDrain } from '../lib.js'
import type { Channel, System } from './system.js'

interface KeyPair {
  publicKey: Uint8Array
  secretKey: Uint8Array
}

/** The part of the (untyped, CommonJS) SecretStream class used here. */
interface SecretStream {
  write(data: Uint8Array): boolean
  destroy(err?: Error): void
  readonly destroyed: boolean
  on(ev: 'data', fn: (msg: Buffer) => void): void
  on(ev: 'error', fn: (err: Error) => void): void
  once(ev: 'connect' | 'close' | 'drain', fn: () => void): void
  once(ev: 'error', fn: (err: Error) => void): void
  off(ev: string, fn: (...args: never[]) => void): void
}

interface SecretStreamClass {
  new (isInitiator: boolean, rawStream: Socket, opts: { keyPair: KeyPair }): SecretStream
  keyPair(): KeyPair
}

const SecretStreamCtor = createRequire(import.meta.url)('@hyperswarm/secret-stream') as SecretStreamClass

class SecretChannel implements Channel {
  readonly closed: Promise<void>
  readonly stream: SecretStream
  private handler: ((payload: Uint8Array) => void) | null = null

  constructor(stream: SecretStream) {
    this.stream = stream
    this.closed = new Promise((resolve) => stream.once('close', resolve))
  }

  // The stream flows once it has a 'data' listener: attached with the first
  // handler, so nothing is read before someone takes it.
  get onmessage(): ((payload: Uint8Array) => void) | null {
    return this.handler
  }
  set onmessage(fn: ((payload: Uint8Array) => void) | null) {
    if (this.handler === null && fn !== null) this.stream.on('data', (m) => this.handler!(m))
    this.handler = fn
  }

  send(payload: Uint8Array): boolean {
    return this.stream.write(payload)
  }

  drain(): Promise<void> {
    return nextDrain(this.stream, this.stream.destroyed, 'secret-stream')
  }

  close(): void {
    this.stream.destroy()
  }
}

/** Resolves once the Noise handshake is done (the 'connect' event). */
function secured(isInitiator: boolean, socket: Socket, keyPair: KeyPair): Promise<SecretChannel> {
  const stream = new SecretStreamCtor(isInitiator, socket, { keyPair })
  return new Promise((resolve, reject) => {
    const fail = (err?: Error): void => reject(err ?? new Error('secret-stream closed during the handshake'))
    stream.once('error', fail)
    stream.once('close', fail)
    stream.once('connect', () => {
      stream.off('error', fail)
      stream.off('close', fail)
      // Later errors end the stream; 'close' reports that to the harness.
      stream.on('error', () => {})
      resolve(new SecretChannel(stream))
    })
  })
}

export function secretStreamSystem(): System {
  let listenerKeys: KeyPair | undefined
  let dialerKeys: KeyPair | undefined
  return {
    name: 'secret-stream',
    async listen(onChannel, onError) {
      const keyPair = (listenerKeys ??= SecretStreamCtor.keyPair())
      const l = await rawListen((socket) => {
        socket.on('error', () => {})
        secured(false, socket, keyPair).then(onChannel, onError)
      })
      return { address: String(l.port), close: async () => l.close() }
    },
    async dial(address) {
      const socket = await rawDial(Number(address))
      return secured(true, socket, (dialerKeys ??= SecretStreamCtor.keyPair()))
    },
    shutdown: async () => undefined,
  }
}
