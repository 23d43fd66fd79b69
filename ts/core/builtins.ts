// Node built-ins that an import of p4net does not load: node:crypto and
// node:net each add 1.5-2 MiB of RSS the first time a process loads them
// (node:dgram, node:os less), and an application that imports p4net
// without starting a node (or before it does) should not pay that. The modules `import('p4net')` evaluates take
// them from here, on first use (synchronous: createRequire).
import { createRequire } from 'node:module'

const require = createRequire(import.meta.url)

let crypto: typeof import('node:crypto') | undefined
let net: typeof import('node:net') | undefined
let dgram: typeof import('node:dgram') | undefined
let os: typeof import('node:os') | undefined

export function nodeCrypto(): typeof import('node:crypto') {
  return (crypto ??= require('node:crypto') as typeof import('node:crypto'))
}

export function nodeNet(): typeof import('node:net') {
  return (net ??= require('node:net') as typeof import('node:net'))
}

export function nodeDgram(): typeof import('node:dgram') {
  return (dgram ??= require('node:dgram') as typeof import('node:dgram'))
}

export function nodeOs(): typeof import('node:os') {
  return (os ??= require('node:os') as typeof import('node:os'))
}
