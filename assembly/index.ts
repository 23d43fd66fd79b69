// One WebAssembly module holds every kernel so that bytes enter WASM memory
// once and are opened, framed and dedup-checked in place. ts/wasm/ is the only
// TypeScript that knows this module's memory layout.
//
// Kernels take raw pointers into linear memory; the TS side allocates fixed
// regions up front with alloc() (and frees them with free()).

export function alloc(size: usize): usize {
  return heap.alloc(size)
}

export function free(ptr: usize): void {
  heap.free(ptr)
}

/** 1 when this build was compiled with SIMD enabled. */
export function simd(): i32 {
  return ASC_FEATURE_SIMD ? 1 : 0
}

// Every shared constant is exported as an immutable global: the build then
// says which wire header and calling conventions it was compiled with, and
// ts/wasm/loader.ts refuses one that disagrees with the TypeScript.
export * from '../ts/core/wire'
export * from '../ts/wasm/abi'

export * from './aead'
export * from './frame'
export * from './dedup'
export * from './channel'
export * from './blake2s'
export { abort_record } from './abort'
