/**
 * A worker thread of the chunk pool (worker-pool.ts; chunk-work.ts says what it is asked): cuts
 * and hashes spans, and compresses new chunks, reading them in shared memory, and decodes what
 * restores read (writing it into the restored file itself, for `place`). Results come back in
 * transferred buffers, not copies.
 */
import { parentPort } from 'node:worker_threads'
import { isCairnError } from '../core/errors.js'
import { loadChunkHasher } from './chunk-id.js'
import { handOver } from './hand-over.js'
import { decodeRun, decodeRunInScratch } from './read-entry.js'
import { placeLocalRun, placeRun } from './read-to-file.js'
import { cutSpan, encodeRanges } from './span.js'
import type { WorkReply, WorkRequest } from './chunk-work.js'

const port = parentPort
if (port === null) throw new Error('chunk-worker runs only as a worker thread')
const ready = loadChunkHasher()
// Loaded: the pool gives this thread jobs from now on (it runs them itself until then).
void ready.then(() => {
  port.postMessage({ job: -1, ready: true } satisfies WorkReply)
})

port.on('message', (request: WorkRequest) => {
  void ready.then(() => {
    let reply: WorkReply
    const transfer: ArrayBuffer[] = []
    try {
      if (request.op === 'cut') {
        reply = { job: request.job, cuts: cutSpan(request.span, request.params) }
      } else if (request.op === 'check') {
        decodeRunInScratch(request.bytes, request.entries, request.base)
        reply = { job: request.job, checked: request.entries.length }
      } else if (request.op === 'place') {
        const { bytes } = request
        const placed = placeRun(bytes, request.entries, request.base, request.targets, request.fd)
        // Given back whole, for the caller to read its next get into (read-buffers.ts).
        if (bytes.buffer instanceof ArrayBuffer) transfer.push(bytes.buffer)
        reply = { job: request.job, placed, bytes }
      } else if (request.op === 'placeLocal') {
        reply = { job: request.job, placed: placeLocalRun(request.placement) }
      } else if (request.op === 'decode') {
        const decoded = handOver(decodeRun(request.bytes, request.entries, request.base))
        transfer.push(...decoded.transfer)
        reply = { job: request.job, decoded: decoded.chunks }
      } else {
        const encoded = encodeRanges(request.bytes, request.ranges, request.compression)
        transfer.push(encoded.out.buffer as ArrayBuffer)
        reply = { job: request.job, encoded }
      }
    } catch (error) {
      if (isCairnError(error)) {
        // The cause stays behind: it may not survive the structured clone.
        const context = { ...error.context, cause: undefined }
        reply = { job: request.job, error: error.detail, code: error.code, context }
      } else {
        reply = { job: request.job, error: error instanceof Error ? error.message : String(error) }
      }
    }
    port.postMessage(reply, transfer)
  })
})
