/**
 * Operations in turn: the save API runs one operation at a time, in the order they were called
 * (saves, loads, and the pruning and compaction a save leaves behind), so its index of slots is
 * always the store's state when an operation starts. And background failures: a task nobody
 * awaits (an autosave, pruning) that fails goes to `onError`, or (without one) is kept and
 * thrown by the next call, so no failure is silent.
 */

export class InTurn {
  #tail: Promise<void> = Promise.resolve()
  /** A background failure not reported to anyone yet (no onError, or onError threw). */
  #deferred: Error | undefined
  readonly #onError: ((error: Error) => void) | undefined
  /** Runs before each task, in turn (the saves read their index again there when it is stale). */
  readonly #before: () => Promise<void>

  constructor(options: {
    readonly onError: ((error: Error) => void) | undefined
    readonly before: () => Promise<void>
  }) {
    this.#onError = options.onError
    this.#before = options.before
  }

  /** Runs `task` after every task queued before it. */
  run<T>(task: () => Promise<T>): Promise<T> {
    const run = this.#tail.then(async () => {
      await this.#before()
      return task()
    })
    this.#tail = run.then(
      () => undefined,
      () => undefined,
    )
    return run
  }

  /** A caller's operation: in turn, and it first throws a background failure not reported yet. */
  call<T>(task: () => Promise<T>): Promise<T> {
    return this.run(() => {
      this.throwDeferred()
      return task()
    })
  }

  /** A task nobody awaits: in turn; its failure is reported. */
  background(task: () => Promise<void>): void {
    this.run(task).catch((error: unknown) => {
      this.report(error)
    })
  }

  /** Resolves once every task queued so far has settled. */
  idle(): Promise<void> {
    return this.#tail
  }

  /** A background failure: to onError, else kept for the next call (the first one kept). */
  report(error: unknown): void {
    const failure = error instanceof Error ? error : new Error(String(error))
    if (this.#onError === undefined) {
      this.#deferred ??= failure
      return
    }
    try {
      this.#onError(failure)
    } catch {
      // onError itself threw: the failure did not reach anyone, so the next call throws it.
      this.#deferred ??= failure
    }
  }

  /** Throws the background failure not reported yet, once. */
  throwDeferred(): void {
    const deferred = this.#deferred
    if (deferred === undefined) return
    this.#deferred = undefined
    throw deferred
  }
}
