// The subset of the WebAssembly JS API that p4net uses. lib.dom.d.ts declares it,
// but pulling DOM types into a Node library would hide real type errors.
declare namespace WebAssembly {
  interface MemoryDescriptor { initial: number; maximum?: number }
  class Memory {
    constructor(descriptor: MemoryDescriptor)
    readonly buffer: ArrayBuffer
    grow(delta: number): number
  }
  class Table {
    readonly length: number
  }
  interface GlobalDescriptor { value: 'i32' | 'i64' | 'f32' | 'f64'; mutable?: boolean }
  class Global {
    constructor(descriptor: GlobalDescriptor, value?: unknown)
    readonly value: unknown
  }
  class Module {
    static imports(module: Module): { module: string; name: string; kind: string }[]
    constructor(bytes: BufferSource)
  }
  class Instance {
    constructor(module: Module, imports?: Record<string, Record<string, unknown>>)
    readonly exports: Record<string, unknown>
  }
  /** Thrown by a trap: unreachable, out-of-bounds memory access, and the like. */
  class RuntimeError extends Error {}
  function validate(bytes: BufferSource): boolean
  function compile(bytes: BufferSource): Promise<Module>
}
type BufferSource = ArrayBufferView | ArrayBuffer
