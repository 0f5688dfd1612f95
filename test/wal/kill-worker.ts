/**
 * The worker of the kill test: appends to a log on the real disk with sync 'always' from several
 * concurrent appenders, and reports each acknowledged record to the parent over IPC only after
 * its promise resolved. The parent kills it with SIGKILL at a moment of its choosing.
 * Usage: node --import tsx test/wal/kill-worker.ts <dir> <first-tag>
 */
import { createNodeVfs } from '../../src/adapters/node/node-vfs.js'
import { openWal } from '../../src/wal/index.js'
import { killRecord } from './kill-record.js'

const [dir, firstTag] = process.argv.slice(2)
if (dir === undefined || firstTag === undefined || process.send === undefined) {
  throw new Error('usage: kill-worker <dir> <first-tag> (as a forked child)')
}
const send = process.send.bind(process)
const wal = await openWal({ vfs: createNodeVfs({ root: dir }), segmentBytes: 64 * 1024 })
send({ kind: 'opened', recovery: wal.recovery })
let tag = Number(firstTag)
const APPENDERS = 8
await Promise.all(
  Array.from({ length: APPENDERS }, async () => {
    for (;;) {
      const mine = tag++
      const many = mine % 5 === 0
      const lsns = many
        ? await wal.appendMany([killRecord(mine, 0), killRecord(mine, 1), killRecord(mine, 2)])
        : [await wal.append(killRecord(mine, 0))]
      send({ kind: 'acked', tag: mine, lsns })
    }
  }),
)
