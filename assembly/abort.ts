// The kernel's abort (asconfig.json: "use": abort=assembly/abort/kernelAbort),
// in place of AssemblyScript's default, an imported env.abort: a module that
// imports a function makes V8 compile a wrapper for it with its optimizing
// compiler when the module compiles, which pages in about 2 MiB of node's own
// code in a node that otherwise needs none of it yet (docs/small-profile.md).
// An abort records its arguments here and traps; ts/wasm/loader.ts reads
// them (abort_record) to report the abort as before.

// message, fileName, line, column: 0 in `message` while no abort is pending
const record = memory.data(16)

export function kernelAbort(message: usize, fileName: usize, line: u32, column: u32): void {
  store<u32>(record, <u32>message)
  store<u32>(record, <u32>fileName, 4)
  store<u32>(record, line, 8)
  store<u32>(record, column, 12)
  unreachable()
}

/** Where the last abort's message, file, line and column are (four u32; message 0: none since the TS side cleared it). */
export function abort_record(): usize {
  return record
}
