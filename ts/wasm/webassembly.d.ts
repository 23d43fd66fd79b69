// The subset of the WebAssembly JS API that p4net uses. lib.dom.d.ts declares it,
// but pulling DOM types into a Node library would hide real type errors.
declare namespace WebAssembly {
  interface MemoryDescriptor { initial: number; maximum?: number }
  class Memory {
    constructor(descriptor: MemoryDescriptor)
    readonly buffer: ArrayBuffer
    grow(delta: number): number
  }
  class Module {
    constructor(bytes: BufferSource)
  }
  class Instance {
    constructor(module: Module, imports?: Record<string, Record<string, unknown>>)
    readonly exports: Record<string, unknown>
  }
  function validate(bytes: BufferSource): boolean
}
type BufferSource = ArrayBufferView | ArrayBuffer
