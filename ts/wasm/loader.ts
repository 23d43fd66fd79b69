// Loads the p4net WebAssembly module synchronously, once per process (it
// imports nothing; no glue library needed).
// A SIMD build is used where the engine validates it, else the scalar build;
// P4NET_WASM=scalar forces the scalar build (tests load both explicitly).
//
// Failures inside a kernel surface as P4Errors:
//   - an AssemblyScript abort (a `throw` in the kernel or its standard
//     library) records its message and source position in the kernel and
//     traps (assembly/abort.ts: the module imports no function, which spares
//     V8 compiling an import wrapper with its optimizing compiler); the trap
//     becomes WASM_ABORT with that message, read from the kernel's static
//     strings;
//   - a trap (WebAssembly.RuntimeError) is caught by the TS wrappers in
//     ts/wasm/ around their one call, through kernelFault(): a try costs
//     nothing until something throws, where a wrapper function around every
//     export would add a JS call to each kernel call;
//   - memory that cannot grow is OUT_OF_MEMORY (the allocator traps then).
// A build compiled from other shared constants than this code is refused at
// load (BAD_BUILD), naming the first difference.
import { readFileSync } from 'node:fs'
import { P4Error } from '../core/errors.js'
import * as wire from '../core/wire.js'
import * as abi from './abi.js'

export type Variant = 'simd' | 'scalar'

/** Raw exports of assembly/index.ts. Pointers are byte offsets into `memory`. */
export interface KernelExports {
  memory: WebAssembly.Memory
  alloc(size: number): number
  free(ptr: number): void
  simd(): number
  /** Where an abort left its message, file, line and column (assembly/abort.ts). */
  abort_record(): number
  [name: string]: unknown
}

export interface Kernel {
  readonly variant: Variant
  readonly exports: KernelExports
  /** A view of all of linear memory, refreshed after memory.grow detached the old one. */
  bytes(): Uint8Array
  /** A DataView of all of linear memory, refreshed like bytes(). */
  view(): DataView
  /** Allocates `size` bytes in linear memory; OUT_OF_MEMORY if the module cannot grow. */
  alloc(size: number): number
  free(ptr: number): void
}

const FILES: Record<Variant, string> = { simd: 'p4net.simd.wasm', scalar: 'p4net.wasm' }
const cache = new Map<Variant, Kernel>()
const REBUILD = 'run "npm run build:wasm"'

function wasmPath(variant: Variant): URL {
  // dist/ts/wasm/loader.js -> <package>/build/
  return new URL(`../../../build/${FILES[variant]}`, import.meta.url)
}

/**
 * The SIMD build as simdSupported() read it, until the first compile takes
 * it: each read of a file by URL runs Node's URL-to-path helper, and a
 * starting process that runs it often enough (the ES module loader runs it
 * for every module and import) has V8 optimize it, paging in about 3 MiB of
 * its optimizing compiler (docs/small-profile.md). One read less keeps a
 * starting node further from that.
 */
let validatedSimd: Uint8Array | undefined

function readModuleBytes(variant: Variant): Uint8Array {
  if (variant === 'simd' && validatedSimd !== undefined) {
    const bytes = validatedSimd
    validatedSimd = undefined
    return bytes
  }
  try {
    return readFileSync(wasmPath(variant))
  } catch (err) {
    throw new P4Error('IO_ERROR', `cannot read ${FILES[variant]}: ${REBUILD}`, { cause: err })
  }
}

let simdSupport: boolean | undefined
/** Whether this engine accepts the SIMD build (checked once with WebAssembly.validate). */
export function simdSupported(): boolean {
  if (simdSupport === undefined) {
    try {
      const bytes = readModuleBytes('simd')
      simdSupport = WebAssembly.validate(bytes)
      if (simdSupport) validatedSimd = bytes
    } catch {
      simdSupport = false
    }
  }
  return simdSupport
}

/**
 * What a kernel call threw, as the error to rethrow: the trap of an abort
 * is the WASM_ABORT it recorded (its message and source position); another
 * trap (WebAssembly.RuntimeError) becomes a P4Error naming the call; P4Errors
 * and anything else pass through unchanged. Pass `memory`
 * for calls that allocate: the allocator's one trap is a failed memory.grow,
 * so there an `unreachable` trap is OUT_OF_MEMORY.
 */
export function kernelFault(err: unknown, call: string, memory?: WebAssembly.Memory): unknown {
  if (!(err instanceof WebAssembly.RuntimeError)) return err
  const aborted = takeAbort()
  if (aborted !== null) return aborted
  if (memory !== undefined && /unreachable/.test(err.message)) {
    const mib = Math.round(memory.buffer.byteLength / 2 ** 20)
    return new P4Error('OUT_OF_MEMORY', `WebAssembly kernel ${call}: linear memory cannot grow (${mib} MiB in use; the engine allows at most 4096)`, { cause: err })
  }
  return new P4Error('WASM_ABORT', `WebAssembly kernel ${call} trapped: ${err.message}`, { cause: err })
}

/** Every constant the kernels share with this code, by name. */
const SHARED: ReadonlyArray<readonly [string, unknown]> = [...Object.entries(wire), ...Object.entries(abi)]

// An AssemblyScript Array<i32> in linear memory: u32 dataStart at +4, i32 length at +12.
function readI32Array(memory: WebAssembly.Memory, ptr: number): number[] | null {
  const size = memory.buffer.byteLength
  if (ptr >>> 0 !== ptr || ptr + 16 > size) return null
  const dv = new DataView(memory.buffer)
  const data = dv.getUint32(ptr + 4, true)
  const length = dv.getInt32(ptr + 12, true)
  if (length < 0 || length > 4096 || data + length * 4 > size) return null
  const out: number[] = []
  for (let i = 0; i < length; i++) out.push(dv.getInt32(data + i * 4, true))
  return out
}

/**
 * Throws BAD_BUILD unless `exports` (of the build `file`) was compiled from
 * the same ts/core/wire.ts and ts/wasm/abi.ts as this code and is the
 * variant it is named for. assembly/index.ts exports each shared constant as
 * an immutable global of the same name.
 */
export function checkBuild(exports: Record<string, unknown>, file: string, variant: Variant): void {
  const stale = (why: string): never => {
    throw new P4Error('BAD_BUILD', `build/${file} does not match this code (${why}): ${REBUILD}`)
  }
  const memory = exports.memory
  if (!(memory instanceof WebAssembly.Memory)) stale('it exports no memory')
  for (const [name, want] of SHARED) {
    const g = exports[name]
    if (!(g instanceof WebAssembly.Global)) stale(`it does not export ${name}`)
    const got = (g as WebAssembly.Global).value
    if (typeof want === 'number') {
      // i32 globals read back signed: compare the 32-bit patterns.
      if (typeof got !== 'number' || (got | 0) !== (want | 0)) stale(`${name} is ${String(got)} there, ${want} here`)
    } else if (Array.isArray(want)) {
      const arr = typeof got === 'number' ? readI32Array(memory as WebAssembly.Memory, got) : null
      if (arr === null) stale(`${name} is not an array there`)
      if (arr!.length !== want.length || arr!.some((v, i) => v !== want[i])) {
        stale(`${name} is [${arr!.join(', ')}] there, [${want.join(', ')}] here`)
      }
    }
  }
  if (typeof exports.simd !== 'function') stale('it does not export simd()')
  if (typeof exports.abort_record !== 'function') stale('it does not export abort_record()')
  const simd = (exports.simd as () => number)()
  if (simd !== (variant === 'simd' ? 1 : 0)) stale(`it is ${simd === 1 ? 'a SIMD' : 'a scalar'} build`)
}

/**
 * An AssemblyScript string in linear memory (UTF-16LE, its byte length in
 * the u32 before it), or null when `ptr` does not point at one.
 */
export function readString(memory: WebAssembly.Memory, ptr: number): string | null {
  const size = memory.buffer.byteLength
  if (ptr >>> 0 !== ptr || ptr < 4 || ptr % 2 !== 0 || ptr > size) return null
  const bytes = new DataView(memory.buffer).getUint32(ptr - 4, true)
  if (bytes % 2 !== 0 || ptr + bytes > size) return null
  const units = new Uint16Array(memory.buffer, ptr, bytes >>> 1)
  let out = ''
  for (let i = 0; i < units.length; i += 1024) out += String.fromCharCode(...units.subarray(i, i + 1024))
  return out
}

/** BAD_BUILD for a build that imports anything (one from before assembly/abort.ts imports env.abort). */
export function checkImports(module: WebAssembly.Module, file: string): void {
  const imports = WebAssembly.Module.imports(module)
  if (imports.length > 0) {
    throw new P4Error('BAD_BUILD', `build/${file} does not match this code (it imports ${imports.map((i) => `${i.module}.${i.name}`).join(', ')}): ${REBUILD}`)
  }
}

/** Every instance made (weakly: a private kernel may be dropped), for takeAbort(). */
const instances = new Set<WeakRef<KernelExports>>()

/**
 * The abort a kernel recorded before it trapped (assembly/abort.ts), as the
 * WASM_ABORT to throw, and cleared; null when no instance recorded one.
 * AssemblyScript's abort(message, fileName, line, column): both strings are static.
 */
function takeAbort(): P4Error | null {
  for (const ref of instances) {
    const ex = ref.deref()
    if (ex === undefined) {
      instances.delete(ref)
      continue
    }
    const at = ex.abort_record()
    const dv = new DataView(ex.memory.buffer)
    const msg = dv.getUint32(at, true)
    if (msg === 0) continue
    const text = (ptr: number): string => (ptr === 0 ? '(none)' : (readString(ex.memory, ptr) ?? `(no string at ${ptr})`))
    const err = new P4Error('WASM_ABORT', `WebAssembly kernel aborted: ${text(msg)} at ${text(dv.getUint32(at + 4, true))}:${dv.getUint32(at + 8, true)}:${dv.getUint32(at + 12, true)}`)
    dv.setUint32(at, 0, true)
    return err
  }
  return null
}

/**
 * Compiles and instantiates a build. Kernel calls go to the raw instance
 * exports, with no wrapper function around each.
 */
function instantiate(variant: Variant): Kernel {
  const file = FILES[variant]
  const module = compiled.get(variant) ?? new WebAssembly.Module(readModuleBytes(variant))
  compiled.delete(variant)
  checkImports(module, file)
  const instance = new WebAssembly.Instance(module, {})
  const exports = instance.exports as unknown as KernelExports
  checkBuild(exports, file, variant)
  for (const ref of instances) if (ref.deref() === undefined) instances.delete(ref)
  instances.add(new WeakRef(exports))
  let buffer = exports.memory.buffer
  let u8 = new Uint8Array(buffer)
  let dv = new DataView(buffer)
  // memory.grow detaches the old buffer, and a view of a detached buffer has
  // length 0 (linear memory never does): reading the length costs far less
  // than the memory.buffer getter, a call into the engine, on every kernel call.
  const refresh = (): void => {
    if (u8.length === 0) {
      buffer = exports.memory.buffer
      u8 = new Uint8Array(buffer)
      dv = new DataView(buffer)
    }
  }
  return {
    variant,
    exports,
    bytes() {
      refresh()
      return u8
    },
    view() {
      refresh()
      return dv
    },
    alloc(size: number) {
      try {
        return exports.alloc(size)
      } catch (err) {
        throw kernelFault(err, `alloc(${size})`, exports.memory)
      }
    },
    free(ptr: number) {
      try {
        exports.free(ptr)
      } catch (err) {
        throw kernelFault(err, 'free')
      }
    },
  }
}

/** A new, private instance of a build (loadKernel() shares one per process). */
export function createKernel(variant: Variant): Kernel {
  return instantiate(variant)
}

/** A specific build; each variant is instantiated once per process. */
export function loadKernel(variant: Variant): Kernel {
  let k = cache.get(variant)
  if (!k) {
    k = instantiate(variant)
    cache.set(variant, k)
  }
  return k
}

/** Builds compiled ahead by precompileKernel(), until instantiated. */
const compiled = new Map<Variant, WebAssembly.Module>()

/** The variant kernel() loads. */
function defaultVariant(): Variant {
  const forced = process.env.P4NET_WASM
  return forced === 'scalar' || forced === 'simd' ? forced : simdSupported() ? 'simd' : 'scalar'
}

/**
 * Compiles the build kernel() will load, off the main thread, so that a node
 * starting up (createNode) does not compile it when its first session needs
 * it. Never rejects: kernel() compiles (and reports) what this could not.
 */
export async function precompileKernel(): Promise<void> {
  if (defaultKernel !== null) return
  const variant = defaultVariant()
  if (cache.has(variant) || compiled.has(variant)) return
  try {
    const module = await WebAssembly.compile(readModuleBytes(variant))
    if (!cache.has(variant)) compiled.set(variant, module)
  } catch {
    // kernel() compiles it again and throws the error where it is needed
  }
}

/** The build this process uses: SIMD where supported unless P4NET_WASM=scalar. */
export function kernel(): Kernel {
  // Called for every read and flush of every session: the choice is made once
  // (reading process.env costs more than the rest of the call).
  if (defaultKernel === null) defaultKernel = loadKernel(defaultVariant())
  return defaultKernel
}
let defaultKernel: Kernel | null = null
