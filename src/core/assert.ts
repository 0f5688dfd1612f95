/**
 * Assertions for preconditions and invariants. A failed assertion is a bug in cairn or in the
 * caller, never bad input: it throws {@link AssertionError} and is meant to crash the process.
 * Bad input (a corrupt file, a malformed key) is a `CairnError` instead.
 */

/** Thrown when an invariant does not hold. Not meant to be caught. */
export class AssertionError extends Error {
  override readonly name = 'AssertionError'
}

/** Throws {@link AssertionError} with `message` unless `condition` holds. Split compound checks. */
export function assert(condition: boolean, message: string): asserts condition {
  if (!condition) throw new AssertionError(message)
}

/** Marks a branch that the type system proves unreachable. */
export function assertNever(value: never, message: string): never {
  throw new AssertionError(`${message}: ${String(value)}`)
}
