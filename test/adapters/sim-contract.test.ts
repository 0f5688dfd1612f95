import { SimDisk } from '../../src/adapters/sim/sim-disk.js'
import { createFsBlobStore } from '../../src/adapters/blob-fs/fs-blob-store.js'
import { describeVfsContract } from '../contract/vfs-contract.js'
import { describeBlobStoreContract } from '../contract/blob-store-contract.js'
import { MemoryBlobStore } from '../../src/adapters/memory/memory-blob-store.js'

describeVfsContract('sim', () =>
  Promise.resolve({ vfs: new SimDisk({ seed: 7 }), cleanup: () => Promise.resolve() }),
)

describeBlobStoreContract(
  'fs over sim',
  async () => {
    const store = await createFsBlobStore({ vfs: new SimDisk({ seed: 7 }), root: 'objects' })
    return { store, cleanup: () => Promise.resolve() }
  },
  { readsInto: true },
)

describeBlobStoreContract(
  'memory',
  () => Promise.resolve({ store: new MemoryBlobStore(), cleanup: () => Promise.resolve() }),
  { readsInto: true },
)
