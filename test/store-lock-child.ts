// A second process for store-lock.test.ts: opens the store at argv[2], says so, and waits to be killed.
import { openStore } from '../src/store.js'

const store = await openStore({ dir: process.argv[2] ?? '', workers: 0 })
process.stdout.write(`open ${String((await store.checkpoints()).length)}\n`)
setInterval(() => undefined, 1000)
