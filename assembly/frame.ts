// frame kernel: being written (see ts/wasm/frame.ts for its TypeScript wrapper).
export {}
