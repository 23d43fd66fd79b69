// Loads the p4net WebAssembly module synchronously, once per process.
// A SIMD build is used where the engine validates it, else the scalar build;
// P4NET_WASM=scalar forces the scalar build (tests load both explicitly).
import { readFileSync } from 'node:fs'
import { P4Error } from '../core/errors.js'

export type Variant = 'simd' | 'scalar'

/** Raw exports of assembly/index.ts. Pointers are byte offsets into `memory`. */
export interface KernelExports {
  memory: WebAssembly.Memory
  alloc(size: number): number
  free(ptr: number): void
  simd(): number
  [name: string]: unknown
}

export interface Kernel {
  readonly variant: Variant
  readonly exports: KernelExports
  /** A view of all of linear memory, refreshed after memory.grow detached the old one. */
  bytes(): Uint8Array
  /** A DataView of all of linear memory, refreshed like bytes(). */
  view(): DataView
  /** Allocates `size` bytes in linear memory; throws if the module cannot grow. */
  alloc(size: number): number
  free(ptr: number): void
}

const FILES: Record<Variant, string> = { simd: 'p4net.simd.wasm', scalar: 'p4net.wasm' }
const cache = new Map<Variant, Kernel>()

function wasmPath(variant: Variant): URL {
  // dist/ts/wasm/loader.js -> <package>/build/
  return new URL(`../../../build/${FILES[variant]}`, import.meta.url)
}

function readModuleBytes(variant: Variant): Uint8Array {
  try {
    return readFileSync(wasmPath(variant))
  } catch (err) {
    throw new P4Error('IO_ERROR', `cannot read ${FILES[variant]}: run "npm run build:wasm"`, { cause: err })
  }
}

let simdSupport: boolean | undefined
/** Whether this engine accepts the SIMD build (checked once with WebAssembly.validate). */
export function simdSupported(): boolean {
  if (simdSupport === undefined) {
    try {
      simdSupport = WebAssembly.validate(readModuleBytes('simd'))
    } catch {
      simdSupport = false
    }
  }
  return simdSupport
}

function instantiate(variant: Variant): Kernel {
  const module = new WebAssembly.Module(readModuleBytes(variant))
  const instance = new WebAssembly.Instance(module, {
    env: {
      abort(_msg: number, _file: number, line: number, column: number): never {
        throw new P4Error('WASM_ABORT', `WebAssembly kernel aborted at ${line}:${column}`)
      },
    },
  })
  const exports = instance.exports as unknown as KernelExports
  let buffer = exports.memory.buffer
  let u8 = new Uint8Array(buffer)
  let dv = new DataView(buffer)
  const refresh = (): void => {
    if (exports.memory.buffer !== buffer) {
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
      const ptr = exports.alloc(size)
      if (ptr === 0) throw new P4Error('WASM_ABORT', `WebAssembly allocation of ${size} bytes failed`)
      return ptr
    },
    free(ptr: number) {
      exports.free(ptr)
    },
  }
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

/** The build this process uses: SIMD where supported unless P4NET_WASM=scalar. */
export function kernel(): Kernel {
  const forced = process.env.P4NET_WASM
  if (forced === 'scalar' || forced === 'simd') return loadKernel(forced)
  return loadKernel(simdSupported() ? 'simd' : 'scalar')
}
