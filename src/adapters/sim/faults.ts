/**
 * Faults the simulated disk injects, by rule. A rule names the operations it applies to, and
 * optionally a path (exact or a RegExp) and a global I/O index; it fires `times` times (1 by
 * default: one-shot; `Infinity`: persistent).
 *
 * | kind         | on                    | effect                                                            |
 * | ------------ | --------------------- | ----------------------------------------------------------------- |
 * | `EIO`        | any op                | the op fails with `IO` and changes nothing, except:               |
 * |              | `fsync`, `fdatasync`  | Linux semantics: the file's pending writes leave the durable path |
 * |              |                       | (pages marked clean), so a later sync "succeeds" without them     |
 * | `ENOSPC`     | `write`               | a prefix lands, then `DISK_FULL` with `bytesWritten`              |
 * | `shortWrite` | `write`               | a prefix lands, then `IO` with `bytesWritten`                     |
 * | `bitflip`    | `read`                | the returned bytes have one bit flipped (the disk is unchanged)   |
 * | `misdirect`  | `write`               | the data lands some sectors past where it was aimed; reports success |
 */

/** Every operation of the simulated disk, as counted in its I/O index and trace. */
export const SIM_OPS = [
  'open',
  'read',
  'write',
  'truncate',
  'size',
  'fsync',
  'fdatasync',
  'close',
  'rename',
  'link',
  'unlink',
  'readdir',
  'mkdir',
  'rmdir',
  'fsyncDir',
  'stat',
] as const
export type SimOp = (typeof SIM_OPS)[number]

export type FaultKind = 'EIO' | 'ENOSPC' | 'shortWrite' | 'bitflip' | 'misdirect'

export interface FaultRule {
  readonly kind: FaultKind
  /** The operations it applies to. */
  readonly ops: readonly SimOp[]
  /** Only paths equal to this string, or matching this RegExp. */
  readonly path?: string | RegExp
  /** Only at this global I/O index. */
  readonly atIo?: number
  /** How many times it fires; 1 by default, `Infinity` for a persistent fault. */
  readonly times?: number
}

/** A rule with its remaining count. */
export interface ArmedFault {
  readonly rule: FaultRule
  remaining: number
}

/** The first armed fault matching this op, consumed by one; undefined when none matches. */
export function takeFault(faults: ArmedFault[], op: SimOp, path: string, io: number): FaultKind | undefined {
  for (const fault of faults) {
    const { rule } = fault
    if (fault.remaining <= 0 || !rule.ops.includes(op)) continue
    if (rule.atIo !== undefined && rule.atIo !== io) continue
    if (
      rule.path !== undefined &&
      !(typeof rule.path === 'string' ? rule.path === path : rule.path.test(path))
    ) {
      continue
    }
    fault.remaining -= 1
    return rule.kind
  }
  return undefined
}
