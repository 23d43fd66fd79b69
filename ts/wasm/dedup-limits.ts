// The seen-message table's capacity bounds, apart from its wrapper
// (dedup.ts) so that option checks need not load the WebAssembly side.

/** Smallest capacity; smaller requests are rounded up to it. */
export const DEDUP_MIN_CAPACITY = 16
/** Largest capacity (the table then takes 512 MiB of linear memory). */
export const DEDUP_MAX_CAPACITY = 1 << 24
