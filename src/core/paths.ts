/**
 * Paths inside a Vfs and keys inside a BlobStore share one shape: segments joined by `/`,
 * relative to a root that the adapter owns. Neither may escape that root, so both are checked
 * here wherever they enter: no absolute paths, no `.` or `..` segments, no empty segments, no
 * backslashes or NUL, and bounded lengths.
 */
import { CairnError } from './errors.js'
import { keyBytesMax, keySegmentBytesMax } from './limits.js'

const encoder = new TextEncoder()
// Printable ASCII but the characters that mean something to a shell, a URL or Windows.
const SEGMENT = /^[A-Za-z0-9._~@+=,-]+$/

/**
 * Validates a relative `/`-separated path or key and returns it unchanged.
 * Throws `CairnError('INVALID_KEY')` naming the problem.
 */
export function parseKey(key: string, op: string): string {
  const fail = (why: string): never => {
    throw new CairnError('INVALID_KEY', `${JSON.stringify(key.slice(0, 200))} ${why}`, {
      op,
      path: key.slice(0, 200),
    })
  }
  if (key.length === 0) fail('is empty')
  if (encoder.encode(key).length > keyBytesMax) fail(`is longer than ${String(keyBytesMax)} bytes`)
  if (key.startsWith('/')) fail('is absolute')
  for (const segment of key.split('/')) {
    if (segment === '') fail('has an empty segment')
    if (segment === '.' || segment === '..') fail('has a . or .. segment')
    if (segment.length > keySegmentBytesMax)
      fail(`has a segment longer than ${String(keySegmentBytesMax)} bytes`)
    if (!SEGMENT.test(segment)) fail('has a character outside [A-Za-z0-9._~@+=,-]')
  }
  return key
}

/** The directory part of a validated path: `a/b/c` -> `a/b`, `c` -> `` (the root). */
export function parentOf(path: string): string {
  const slash = path.lastIndexOf('/')
  return slash < 0 ? '' : path.slice(0, slash)
}

/** The last segment of a validated path: `a/b/c` -> `c`. */
export function baseName(path: string): string {
  return path.slice(path.lastIndexOf('/') + 1)
}

/** Joins validated path parts, skipping empty ones (the root). */
export function joinPath(...parts: readonly string[]): string {
  return parts.filter((part) => part !== '').join('/')
}
