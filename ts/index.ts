// Public exports only (see docs/architecture.md for the layers).
export { P4Error, isP4Error } from './errors.js'
export type { P4ErrorCode } from './errors.js'
