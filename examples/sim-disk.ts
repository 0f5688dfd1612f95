// The README example: a put, a power loss, and the disk booted under every crash model.
// Run: npm run build && npx tsx examples/sim-disk.ts
import { SimDisk, createFsBlobStore, createRng } from 'cairn'

const disk = new SimDisk({ seed: 42 }) // one seed drives every random choice
const store = await createFsBlobStore({ vfs: disk, root: 'objects' })
await store.put('a/1', new TextEncoder().encode('acknowledged'))

disk.haltAtIo(disk.ioCount + 3) // power is lost as the 3rd next I/O call starts
await store.put('a/2', new Uint8Array(5000)).catch(() => {})

for (const model of ['processCrash', 'clearCache', 'prefixPerFile', 'weak'] as const) {
  const booted = disk.crash(model, createRng(1)) // the disk as found at the next boot
  const after = await createFsBlobStore({ vfs: booted, root: 'objects' })
  console.log(model, (await after.get('a/1')).length, await after.head('a/2')) // a/1 always; a/2 absent
}
console.log(disk.formatTrace()) // every call with its I/O index
