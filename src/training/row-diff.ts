/**
 * Sparse incremental saves (DeepRec's idea): only the rows of a tensor that changed since the last
 * save are written. A tensor's bytes are cut into rows of `rowBytes`; each row's CRC-32C is kept
 * from the last save, and a save compares: the changed rows, adjacent ones merged, become the
 * patches of a delta checkpoint. Memory: 4 bytes a row (1 MiB for a 1 GiB tensor of 4 KiB rows),
 * never a copy of the tensor.
 */
import { crc32c } from '../core/crc32c.js'

export interface RowPatch {
  readonly offset: number
  readonly data: Uint8Array
}

/** Each row's CRC-32C. */
export function rowHashes(bytes: Uint8Array, rowBytes: number): Uint32Array {
  const rows = Math.ceil(bytes.length / rowBytes)
  const hashes = new Uint32Array(rows)
  for (let row = 0; row < rows; row++) {
    hashes[row] = crc32c(bytes.subarray(row * rowBytes, Math.min(bytes.length, (row + 1) * rowBytes)))
  }
  return hashes
}

/**
 * The patches that turn the last saved bytes (described by `before`) into `bytes` (same length),
 * and the new hashes. A CRC collision would hide a changed row: with 32 bits, about one row in four
 * billion; `fullEvery` saves bound how long such a row could stay stale.
 */
export function diffRows(
  bytes: Uint8Array,
  before: Uint32Array,
  rowBytes: number,
): { readonly patches: RowPatch[]; readonly hashes: Uint32Array; readonly changedBytes: number } {
  const hashes = rowHashes(bytes, rowBytes)
  const patches: RowPatch[] = []
  let changedBytes = 0
  let start = -1
  const close = (end: number) => {
    if (start < 0) return
    const from = start * rowBytes
    const to = Math.min(bytes.length, end * rowBytes)
    patches.push({ offset: from, data: bytes.subarray(from, to) })
    changedBytes += to - from
    start = -1
  }
  for (let row = 0; row < hashes.length; row++) {
    if (hashes[row] !== before[row]) {
      if (start < 0) start = row
    } else {
      close(row)
    }
  }
  close(hashes.length)
  return { patches, hashes, changedBytes }
}
