/**
 * A BlobStore that records the buffers packs pass through: each pack put's bytes, and each buffer
 * a pack get is asked to read into. Tests of buffer reuse count the distinct ones.
 */
import type { BlobStore } from '../../src/core/ports.js'

export function watchedBlobs(root: BlobStore): {
  blobs: BlobStore
  readonly puts: ArrayBufferLike[]
  readonly reads: ArrayBufferLike[]
} {
  const puts: ArrayBufferLike[] = []
  const reads: ArrayBufferLike[] = []
  const blobs: BlobStore = {
    properties: root.properties,
    put: (key, data, options) => {
      if (key.startsWith('packs/')) puts.push(data.buffer)
      return root.put(key, data, options)
    },
    get: (key, range, into) => {
      if (key.startsWith('packs/') && into !== undefined) reads.push(into.buffer)
      return root.get(key, range, into)
    },
    head: (key) => root.head(key),
    list: (prefix) => root.list(prefix),
    delete: (keys) => root.delete(keys),
  }
  return { blobs, puts, reads }
}
