/**
 * A small seeded pseudo-random generator (sfc32, seeded through splitmix32) so that every
 * simulated crash, fault and workload replays exactly from one integer seed. Not for secrets.
 */

/** A deterministic source of randomness. */
export interface Rng {
  /** The seed it was created from. */
  readonly seed: number
  /** A float in [0, 1). */
  next(): number
  /** An integer in [0, bound). */
  int(bound: number): number
  /** True with probability `p`. */
  chance(p: number): boolean
  /** `length` random bytes. */
  bytes(length: number): Uint8Array
  /** A new generator whose stream is independent of this one's future draws. */
  fork(): Rng
}

/** Creates a generator from a 32-bit integer seed. */
export function createRng(seed: number): Rng {
  let s = seed >>> 0
  const splitmix = (): number => {
    s = (s + 0x9e3779b9) | 0
    let z = s
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b)
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35)
    return (z ^ (z >>> 16)) >>> 0
  }
  let a = splitmix()
  let b = splitmix()
  let c = splitmix()
  let d = splitmix()
  const nextU32 = (): number => {
    const t = (((a + b) | 0) + d) | 0
    d = (d + 1) | 0
    a = b ^ (b >>> 9)
    b = (c + (c << 3)) | 0
    c = (c << 21) | (c >>> 11)
    c = (c + t) | 0
    return t >>> 0
  }
  for (let i = 0; i < 12; i++) nextU32()
  const rng: Rng = {
    seed,
    next: () => nextU32() / 0x1_0000_0000,
    int: (bound) => Math.floor((nextU32() / 0x1_0000_0000) * bound),
    chance: (p) => nextU32() / 0x1_0000_0000 < p,
    bytes: (length) => {
      const out = new Uint8Array(length)
      for (let i = 0; i < length; i++) out[i] = nextU32() & 0xff
      return out
    },
    fork: () => createRng(nextU32()),
  }
  return rng
}
