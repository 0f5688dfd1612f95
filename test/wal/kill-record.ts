/** The bytes of the kill test's records: derived from (tag, part) so the parent can check them. */
export function killRecord(tag: number, part: number): Uint8Array {
  const length = 20 + ((tag * 7919 + part * 104729) % 2000)
  const bytes = new Uint8Array(length)
  let x = (tag * 2654435761 + part * 40503) >>> 0
  for (let i = 0; i < length; i++) {
    x = (x * 1103515245 + 12345) >>> 0
    bytes[i] = x >>> 24
  }
  return bytes
}
