// The kernels' calling conventions that the TS wrappers in ts/wasm/ rely on,
// defined once for both compilers (see ts/core/wire.ts for the syntax rules:
// no imports, no type annotations, integer constants only). assembly/index.ts
// exports every name, and ts/wasm/loader.ts compares them at load.

/** Bytes per frame descriptor (assembly/frame.ts, ts/wasm/frame.ts). */
export const FRAME_DESC_SIZE = 24
/** Encoder-only frame error: a descriptor field is out of range or its frame does not fit the region. */
export const FRAME_BAD_DESCRIPTOR = 5
/** errorOffset when a scan or batch found no bad header (u32 all ones). */
export const FRAME_NO_OFFSET = 0xffffffff

// Why a frame scan stopped (result block word 5).
/** Fewer than 18 bytes left (possibly none). */
export const SCAN_STOP_HEADER = 1
/** Header complete, payload not. */
export const SCAN_STOP_PAYLOAD = 2
/** maxFrames descriptors written. */
export const SCAN_STOP_LIMIT = 3
/** Malformed header at errorOffset. */
export const SCAN_STOP_ERROR = 4

// channel_open error codes (result block word 2).
export const OPEN_OK = 0
/** A record failed authentication. */
export const OPEN_AUTH = 1
/** A record is shorter than its tag. */
export const OPEN_LENGTH = 2
