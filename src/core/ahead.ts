/**
 * Reads ahead, in order: `fn` runs on up to `limit` items at once, and each item's outcome comes
 * back in the items' order, settled (a failure is given to the caller at its turn, not thrown
 * ahead of the items before it). So a loop that reads one object after another keeps its order
 * and its error handling, while the requests overlap: on a disk whose every read is a round trip
 * through the thread pool, or an object store whose every GET is one over the network, that is
 * most of the time such a loop takes.
 *
 * Memory: at most `limit` outcomes are held, besides the one the caller is using. A caller that stops early (break, throw) leaves no
 * request running unobserved: the generator waits for those in flight before it returns.
 */
export async function* ahead<T, R>(
  items: Iterable<T>,
  limit: number,
  fn: (item: T) => Promise<R>,
): AsyncGenerator<[T, PromiseSettledResult<R>]> {
  const width = Math.max(1, Math.floor(limit))
  const source = items[Symbol.iterator]()
  const inFlight: { item: T; outcome: Promise<PromiseSettledResult<R>> }[] = []
  const start = (): boolean => {
    const next = source.next()
    if (next.done === true) return false
    const item = next.value
    const outcome = Promise.resolve()
      .then(() => fn(item))
      .then(
        (value): PromiseSettledResult<R> => ({ status: 'fulfilled', value }),
        (reason: unknown): PromiseSettledResult<R> => ({ status: 'rejected', reason }),
      )
    inFlight.push({ item, outcome })
    return true
  }
  try {
    while (inFlight.length < width && start()) {
      // Fill the window.
    }
    for (let head = inFlight.shift(); head !== undefined; head = inFlight.shift()) {
      const outcome = await head.outcome
      start() // the window is full again while the caller uses this one
      yield [head.item, outcome]
    }
  } finally {
    await Promise.all(inFlight.map((entry) => entry.outcome))
  }
}
