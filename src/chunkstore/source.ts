/**
 * What an entry's bytes may come from: a `Uint8Array`, an `AsyncIterable<Uint8Array>` (a Node
 * `Readable` is one) or a sync `Iterable<Uint8Array>`. Anything else, a string piece included (a
 * Readable with an encoding set), is `BAD_OPTION` naming the entry: text has no single byte form.
 */
import { CairnError } from '../core/errors.js'

export type EntrySource = Uint8Array | AsyncIterable<Uint8Array> | Iterable<Uint8Array>

/** The source as pieces of bytes, checked one by one as they arrive. */
export async function* sourcePieces(source: EntrySource, where: string): AsyncGenerator<Uint8Array> {
  if (source instanceof Uint8Array) {
    yield source
    return
  }
  const iterable = source as Partial<AsyncIterable<unknown> & Iterable<unknown>>
  if (
    typeof iterable[Symbol.asyncIterator] !== 'function' &&
    typeof iterable[Symbol.iterator] !== 'function'
  ) {
    throw badSource(where, 'is not a Uint8Array or an iterable of them')
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
