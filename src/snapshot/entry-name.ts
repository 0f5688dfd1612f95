/**
 * Entry names: the names of the byte streams in a snapshot (`world.bin`, `tensors/layer1`, a file
 * path). Any UTF-8 text is allowed but what could escape a directory a snapshot is restored into:
 * an empty name, an absolute one (`/x`, `C:`…), a backslash, a NUL, an empty, `.` or `..` segment.
 * Checked on write (`INVALID_KEY`) and again on read, where a crafted manifest is refused.
 */
import { CairnError } from '../core/errors.js'

/** The longest entry name, in UTF-8 bytes. */
export const ENTRY_NAME_BYTES_MAX = 4096

const encoder = new TextEncoder()

/** Returns `name` if it is a valid entry name; else `INVALID_KEY` naming it. */
export function parseEntryName(name: unknown, op: string): string {
  const fail = (why: string): never => {
    const shown = typeof name === 'string' ? JSON.stringify(name.slice(0, 200)) : typeof name
    throw new CairnError('INVALID_KEY', `entry name ${shown} ${why}`, { op })
  }
  if (typeof name !== 'string') return fail('is not a string')
  if (name.length === 0) fail('is empty')
  if (encoder.encode(name).length > ENTRY_NAME_BYTES_MAX)
    fail(`is longer than ${String(ENTRY_NAME_BYTES_MAX)} bytes`)
  if (name.includes('\0')) fail('holds a NUL')
  if (name.includes('\\')) fail('holds a backslash')
  if (name.startsWith('/') || /^[A-Za-z]:/.test(name)) fail('is absolute')
  for (const segment of name.split('/')) {
    if (segment === '' || segment === '.' || segment === '..') fail('has an empty, . or .. segment')
  }
  return name
}
