/**
 * Every error p4net raises on purpose is a P4Error with a stable string `code`.
 * Codes are part of the public API: callers branch on them, so never rename one.
 */
export type P4ErrorCode =
  | 'BAD_ARGUMENT'
  | 'BAD_USERNAME'
  | 'BAD_OPTION'
  | 'BAD_CONFIG'
  | 'BAD_IDENTITY'
  | 'BAD_FRAME'
  | 'BAD_VERSION'
  | 'BAD_PREAMBLE'
  | 'BAD_HANDSHAKE'
  | 'BAD_SIGNATURE'
  | 'BAD_PAYLOAD'
  | 'DECRYPT_FAILED'
  | 'MESSAGE_TOO_LARGE'
  | 'HOP_LIMIT'
  | 'UNKNOWN_USER'
  | 'UNREACHABLE'
  | 'UNTRUSTED_KEY'
  | 'TIMEOUT'
  | 'CLOSED'
  | 'PEER_CLOSED'
  | 'NONCE_EXHAUSTED'
  | 'QUOTA_EXCEEDED'
  | 'WASM_ABORT'
  | 'BAD_BUILD'
  | 'OUT_OF_MEMORY'
  | 'NOT_STARTED'
  | 'ALREADY_STARTED'
  | 'IO_ERROR'
  | 'ALREADY_EXISTS'
  | 'CLOCK_SKEW'
  | 'NOT_JOINED'
  | 'BAD_RESUME'
  | 'UNSUPPORTED'

export class P4Error extends Error {
  readonly code: P4ErrorCode
  constructor(code: P4ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'P4Error'
    this.code = code
  }
}

/** True when `err` is a P4Error, optionally with the given code. */
export function isP4Error(err: unknown, code?: P4ErrorCode): err is P4Error {
  return err instanceof P4Error && (code === undefined || err.code === code)
}

/** Throws BAD_ARGUMENT unless `value` is a Uint8Array of exactly `length` bytes. */
export function expectBytes(value: unknown, length: number | undefined, what: string): Uint8Array {
  if (!(value instanceof Uint8Array)) {
    throw new P4Error('BAD_ARGUMENT', `${what} must be a Uint8Array`)
  }
  if (length !== undefined && value.length !== length) {
    throw new P4Error('BAD_ARGUMENT', `${what} must be ${length} bytes, got ${value.length}`)
  }
  return value
}
