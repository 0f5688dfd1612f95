/**
 * What an entry's bytes may come from: a `Uint8Array`, an `AsyncIterable<Uint8Array>` (a Node
 * `Readable` is one), a sync `Iterable<Uint8Array>`, or an `EntryReader` (`fileEntry(path)`),
 * which the chunk store reads straight into its own buffers. Anything else, a string piece
 * included (a Readable with an encoding set), is `BAD_OPTION` naming the entry: text has no
 * single byte form.
 */
import { CairnError } from '../core/errors.js'

/**
 * An entry the chunk store reads into its own buffers, with no piece of the reader's in between:
 * a file read this way costs one copy (the kernel's) where a stream costs a buffer per piece,
 * a copy out of it and its garbage (`bench/chunkstore.bench.ts` measures the two). It is read
 * once, from its start to its end; `close` is called once: when reading stops, at the end or on a
 * failure, or when the store refuses the entry before reading it.
 */
export interface EntryReader {
  /** Reads the next bytes into `target`; resolves with how many (0 only at the end). */
  readInto(target: Uint8Array): Promise<number>
  /** Releases what the reader holds (a file descriptor, say). */
  close(): Promise<void>
}

export type EntrySource = Uint8Array | AsyncIterable<Uint8Array> | Iterable<Uint8Array> | EntryReader

/** True for an `EntryReader` (checked by its methods: it is an interface, not a class). */
export function isEntryReader(source: unknown): source is EntryReader {
  const candidate = source as Partial<EntryReader> | null
  return (
    typeof candidate === 'object' &&
    candidate !== null &&
    typeof candidate.readInto === 'function' &&
    typeof candidate.close === 'function'
  )
}

/** The source as the chunk store reads it: pieces checked as they arrive, or a checked reader. */
export function entryInput(source: EntrySource, where: string): AsyncIterable<Uint8Array> | EntryReader {
  return isEntryReader(source) ? checkedReader(source, where) : sourcePieces(source, where)
}

/**
 * `reader`, refusing a count that is not a whole number of bytes that fit the target; its close
 * reaches the reader once, however often it is called.
 */
function checkedReader(reader: EntryReader, where: string): EntryReader {
  let closing: Promise<void> | undefined
  return {
    async readInto(target) {
      const count = await reader.readInto(target)
      if (!Number.isSafeInteger(count) || count < 0 || count > target.length)
        throw badSource(where, `reader said it read ${String(count)} bytes into ${String(target.length)}`)
      return count
    },
    // Through a promise: a close that throws at once still rejects, it does not throw.
    close: () => (closing ??= Promise.resolve().then(() => reader.close())),
  }
}

/** The source as pieces of bytes, checked one by one as they arrive. */
export async function* sourcePieces(
  source: Exclude<EntrySource, EntryReader>,
  where: string,
): AsyncGenerator<Uint8Array> {
  if (source instanceof Uint8Array) {
    yield source
    return
  }
  const iterable = source as Partial<AsyncIterable<unknown> & Iterable<unknown>>
  if (
    typeof iterable[Symbol.asyncIterator] !== 'function' &&
    typeof iterable[Symbol.iterator] !== 'function'
  ) {
    throw badSource(where, 'is not a Uint8Array, an iterable of them or an EntryReader')
  }
  for await (const piece of source as AsyncIterable<unknown>) {
    if (!(piece instanceof Uint8Array)) {
      throw badSource(
        where,
        typeof piece === 'string'
          ? 'gave a string piece (a Readable with an encoding set?)'
          : 'gave a piece that is not a Uint8Array',
      )
    }
    if (piece.length > 0) yield piece
  }
}

function badSource(where: string, why: string): CairnError {
  return new CairnError('BAD_OPTION', `entry source ${why}`, { op: 'entry.put', path: where })
}
