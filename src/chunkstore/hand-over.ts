/**
 * Chunks ready to post back: an inflated chunk fills a buffer of its own (one byte to spare, see
 * codec.ts), which is handed over as it is; the others (stored raw, so views of the read, or small
 * enough to share node's buffer pool) are copied into one buffer handed over with them. Copying
 * every chunk into one buffer (a zero-filled allocation and a copy of every byte read back) cost
 * ~6% of a restore's CPU: median 666 -> 624 ms for the bench's 72 MB version on two workers, over
 * 10 interleaved runs.
 */
export function handOver(raw: readonly Uint8Array[]): { chunks: Uint8Array[]; transfer: ArrayBuffer[] } {
  const transfer = new Set<ArrayBuffer>()
  let copied = 0
  const own = raw.map((chunk) => {
    const buffer = chunk.buffer
    const alone =
      buffer instanceof ArrayBuffer &&
      chunk.byteOffset === 0 &&
      buffer.byteLength - chunk.length <= 1 &&
      !transfer.has(buffer)
    if (alone) transfer.add(buffer)
    else copied += chunk.length
    return alone
  })
  const rest = new Uint8Array(copied)
  let at = 0
  const chunks = raw.map((chunk, i) => {
    if (own[i] === true) return chunk
    rest.set(chunk, at)
    return rest.subarray(at, (at += chunk.length))
  })
  if (copied > 0) transfer.add(rest.buffer)
  return { chunks, transfer: [...transfer] }
}
