// dedup kernel: being written (see ts/wasm/dedup.ts for its TypeScript wrapper).
export {}
