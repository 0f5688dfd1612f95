/**
 * A view of a BlobStore under a key prefix: `view.put('manifests/x')` is `root.put('<prefix>manifests/x')`.
 * A shared object store keeps each store's own objects (manifests, tombstones, shipped log) under
 * `stores/<name>/`, beside the packs and index objects every store shares.
 */
import type { BlobInfo, BlobStore, ByteRange } from './ports.js'

export function prefixedBlobs(root: BlobStore, prefix: string): BlobStore {
  if (prefix === '') return root
  if (!prefix.endsWith('/')) throw new TypeError(`a blob prefix ends with '/': ${prefix}`)
  return {
    properties: root.properties,
    put: (key: string, data: Uint8Array, options?: { readonly ifAbsent?: boolean }) =>
      root.put(prefix + key, data, options),
    get: (key: string, range?: ByteRange) => root.get(prefix + key, range),
    head: async (key: string) => {
      const info = await root.head(prefix + key)
      return info === undefined ? undefined : { key, size: info.size }
    },
    list: async function* (under: string): AsyncIterable<BlobInfo> {
      for await (const info of root.list(prefix + under)) {
        yield { key: info.key.slice(prefix.length), size: info.size }
      }
    },
    delete: (keys: readonly string[]) => root.delete(keys.map((key) => prefix + key)),
  }
}
