// The save-game API: two slots saved, one loaded, its history shown.
// Run: npm run build && npx tsx examples/saves.ts
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { openSaves } from 'cairn'

const dir = await mkdtemp(join(tmpdir(), 'cairn-saves-'))
const saves = await openSaves({ dir, history: { keepLast: 10, keepDaily: 7 } }) // a history per slot

await saves.save('slot-1', { level: 1, hp: 100, inventory: ['sword'] }) // JSON: durable when it resolves
await saves.save('slot-1', { level: 2, hp: 64, inventory: ['sword', 'map'] }, { tags: ['boss-beaten'] })
await saves.save('slot-2', new Uint8Array([1, 2, 3, 4])) // bytes: saved as they are

console.log('slot-1 loads', JSON.stringify(await saves.load('slot-1')))
for (const slot of await saves.slots())
  console.log('slot', slot.slot, slot.saves, 'save(s), newest', slot.bytes, 'bytes')
for (const save of await saves.history('slot-1')) {
  console.log(
    'history',
    save.id.slice(0, 8),
    save.savedAt.toISOString(),
    save.bytes,
    'bytes',
    JSON.stringify(save.tags),
  )
}
const first = (await saves.history('slot-1')).at(-1)
if (first !== undefined)
  console.log('first save loads', JSON.stringify(await saves.loadVersion('slot-1', first.id)))

await saves.close()
await rm(dir, { recursive: true, force: true })
