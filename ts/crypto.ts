// p4net/crypto: the cryptographic kernels, usable on their own.
export { P4Error } from './errors.js'
