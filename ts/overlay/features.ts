// The handshake feature bits this node announces, in one place: the
// handshakes send them, and modules that use an optional extension (REACH)
// check them together with the peer's.
import { HandshakeFeature } from '../core/protocol.js'
import { streamFeature } from './stream-codec.js'
import type { OverlayConfig } from './types.js'

/** The bits announced; cfg.features replaces them (e.g. to act as an older node). */
export function localFeatures(cfg: OverlayConfig): number {
  return cfg.features ?? HandshakeFeature.ACK | HandshakeFeature.E2E_BOX1 | HandshakeFeature.REACH | streamFeature(cfg)
}
