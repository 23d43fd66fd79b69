// A Map that counts its changes, so that an answer computed from it can be
// cached and trusted for as long as the count stays the same (the route of a
// send, the user a session's key is bound to: per message, these would
// otherwise cost several lookups each).
export class VersionedMap<K, V> extends Map<K, V> {
  /** Bumped by every set, delete and clear (also one that changes nothing). */
  version = 0

  constructor() {
    super()
  }

  override set(key: K, value: V): this {
    this.version++
    return super.set(key, value)
  }

  override delete(key: K): boolean {
    this.version++
    return super.delete(key)
  }

  override clear(): void {
    this.version++
    super.clear()
  }
}
