import { createNodeVfs } from '../../src/adapters/node/node-vfs.js'
import { createFsBlobStore } from '../../src/adapters/blob-fs/fs-blob-store.js'
import { describeVfsContract } from '../contract/vfs-contract.js'
import { describeBlobStoreContract } from '../contract/blob-store-contract.js'
import { makeTempDir } from '../helpers.js'

for (const io of ['sync', 'async'] as const) {
  describeVfsContract(`node (io: ${io})`, async () => {
    const { dir, cleanup } = await makeTempDir()
    return { vfs: createNodeVfs({ root: dir, io }), cleanup }
  })

  describeBlobStoreContract(
    `fs over node (io: ${io})`,
    async () => {
      const { dir, cleanup } = await makeTempDir()
      const store = await createFsBlobStore({ vfs: createNodeVfs({ root: dir, io }), root: 'objects' })
      return { store, cleanup }
    },
    { readsInto: true, localFiles: true },
  )
}
