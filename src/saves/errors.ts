/**
 * Slot names, save tags, and the errors of the save-game API. Every error a caller can act on is
 * a `CairnError` whose message starts with the slot it concerns (`slot "hero": …`), keeping the
 * code of the failure underneath (an `IO` while saving stays `IO`), with that failure as `cause`.
 */
import { CairnError, isCairnError } from '../core/errors.js'
import type { CairnErrorCode, CairnErrorContext } from '../core/errors.js'

/** The longest slot name, in UTF-16 code units. */
export const SLOT_NAME_LENGTH_MAX = 128
/** The longest tag of a save, in UTF-16 code units. */
export const SAVE_TAG_LENGTH_MAX = 256

/** The tag every save of a slot carries (`cairn ls` shows it), and the tag of a slot's deletion. */
export const SLOT_TAG_PREFIX = 'slot:'
export const DELETED_TAG_PREFIX = 'slot-deleted:'

/** How a message names `slot`, or several: `slot "hero"`, `slots "hero", "villain"`. */
export function slotLabel(slot: string | readonly string[]): string {
  if (typeof slot === 'string') return `slot ${JSON.stringify(slot)}`
  if (slot.length === 1) return slotLabel(slot[0] ?? '')
  return `slots ${slot.map((name) => JSON.stringify(name)).join(', ')}`
}

/** A CairnError about `slot` (or slots): the message names it. */
export function slotError(
  code: CairnErrorCode,
  slot: string | readonly string[],
  message: string,
  context: CairnErrorContext,
): CairnError {
  return new CairnError(code, `${slotLabel(slot)}: ${message}`, context)
}

/**
 * `error` as a CairnError naming `slot`, with the same code and context (the failure underneath
 * is its `cause`). Anything else (a bug, an error thrown by the caller's own code) is returned
 * as it is: it is not ours to recode.
 */
export function wrapSlotError(
  error: unknown,
  slot: string | readonly string[],
  what: string,
  op: string,
): unknown {
  if (!isCairnError(error)) return error
  if (error.detail.startsWith(`${slotLabel(slot)}: `)) return error
  return slotError(error.code, slot, `${what}: ${error.detail}`, { ...error.context, op, cause: error })
}

/** Returns `slot` if it is a valid slot name; else `INVALID_KEY`. */
export function parseSlotName(slot: unknown, op: string): string {
  const fail = (why: string): never => {
    const shown = typeof slot === 'string' ? JSON.stringify(slot.slice(0, 200)) : typeof slot
    throw new CairnError('INVALID_KEY', `slot name ${shown} ${why}`, {
      op,
      hint: `a slot name is 1-${String(SLOT_NAME_LENGTH_MAX)} characters, without control characters or spaces at either end`,
    })
  }
  if (typeof slot !== 'string') return fail('is not a string')
  if (slot.length === 0) fail('is empty')
  if (slot.length > SLOT_NAME_LENGTH_MAX) fail(`is longer than ${String(SLOT_NAME_LENGTH_MAX)} characters`)
  if (/\p{Cc}/u.test(slot)) fail('holds a control character')
  if (slot.trim() !== slot) fail('starts or ends with a space')
  return slot
}

/** Returns the tags of a save if they are valid; else `BAD_OPTION` naming the slot. */
export function parseSaveTags(tags: unknown, slot: string, op: string): string[] {
  if (tags === undefined) return []
  if (!Array.isArray(tags)) throw slotError('BAD_OPTION', slot, 'tags must be an array of strings', { op })
  const out: string[] = []
  for (const tag of tags as unknown[]) {
    if (typeof tag !== 'string' || tag.length === 0 || tag.length > SAVE_TAG_LENGTH_MAX) {
      throw slotError(
        'BAD_OPTION',
        slot,
        `a tag is a string of 1-${String(SAVE_TAG_LENGTH_MAX)} characters, got ${JSON.stringify(tag)}`,
        { op },
      )
    }
    if (tag.startsWith(SLOT_TAG_PREFIX) || tag.startsWith(DELETED_TAG_PREFIX)) {
      throw slotError('BAD_OPTION', slot, `the tag ${JSON.stringify(tag)} uses a reserved prefix`, {
        op,
        hint: `tags starting with ${SLOT_TAG_PREFIX} or ${DELETED_TAG_PREFIX} are the save API's own`,
      })
    }
    if (!out.includes(tag)) out.push(tag)
  }
  return out
}
