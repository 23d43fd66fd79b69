// aead kernel: being written (see ts/wasm/aead.ts for its TypeScript wrapper).
export {}
