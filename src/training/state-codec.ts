/**
 * A training state as a checkpoint holds it. A state is a record of named values:
 * - typed arrays (tensors: `Float32Array`, `Float64Array`, `Int8Array`, `Int16Array`,
 *   `Int32Array`, `Uint8Array`, `Uint16Array`, `Uint32Array`, `BigInt64Array`, `BigUint64Array`),
 *   each stored as the entry `t/<name>`, its bytes little-endian as in memory;
 * - JSON values (hyperparameters, the data loader's position, an RNG seed), kept in the
 *   checkpoint's meta with each tensor's dtype and length.
 *
 * meta: `{ "step": n, "tensors": { name: { "dtype": "float32", "length": n } }, "json": {…},
 * "pins": [steps] }`.
 */
import { CairnError } from '../core/errors.js'
import type { JsonValue } from '../snapshot/manifest.js'

export type Tensor =
  | Float32Array
  | Float64Array
  | Int8Array
  | Int16Array
  | Int32Array
  | Uint8Array
  | Uint16Array
  | Uint32Array
  | BigInt64Array
  | BigUint64Array

/** A training state: named tensors and JSON values. */
export type TrainingState = Readonly<Record<string, Tensor | JsonValue>>

const DTYPES: {
  readonly float32: Float32ArrayConstructor
  readonly float64: Float64ArrayConstructor
  readonly int8: Int8ArrayConstructor
  readonly int16: Int16ArrayConstructor
  readonly int32: Int32ArrayConstructor
  readonly uint8: Uint8ArrayConstructor
  readonly uint16: Uint16ArrayConstructor
  readonly uint32: Uint32ArrayConstructor
  readonly int64: BigInt64ArrayConstructor
  readonly uint64: BigUint64ArrayConstructor
} = {
  float32: Float32Array,
  float64: Float64Array,
  int8: Int8Array,
  int16: Int16Array,
  int32: Int32Array,
  uint8: Uint8Array,
  uint16: Uint16Array,
  uint32: Uint32Array,
  int64: BigInt64Array,
  uint64: BigUint64Array,
}

export type Dtype = keyof typeof DTYPES

export interface TensorMeta {
  readonly dtype: Dtype
  readonly length: number
}

/** The tensors of a state, split from its JSON values. */
export interface SplitState {
  readonly tensors: ReadonlyMap<string, { readonly meta: TensorMeta; readonly bytes: Uint8Array }>
  readonly json: Readonly<Record<string, JsonValue>>
}

export function tensorEntry(name: string): string {
  return `t/${name}`
}

export function isTensor(value: unknown): value is Tensor {
  return ArrayBuffer.isView(value) && !(value instanceof DataView) && dtypeOf(value as Tensor) !== undefined
}

function dtypeOf(tensor: Tensor): Dtype | undefined {
  for (const [dtype, type] of Object.entries(DTYPES)) if (tensor.constructor === type) return dtype as Dtype
  return undefined
}

/** Splits a state; with `copy`, tensors' bytes are copied (a staged save owns them). */
export function splitState(state: TrainingState, copy: boolean): SplitState {
  const tensors = new Map<string, { meta: TensorMeta; bytes: Uint8Array }>()
  const json: Record<string, JsonValue> = {}
  for (const [name, value] of Object.entries(state)) {
    if (isTensor(value)) {
      const dtype = dtypeOf(value)
      if (dtype === undefined) throw badState(name, 'is a typed array of an unsupported type')
      const view = new Uint8Array(value.buffer, value.byteOffset, value.byteLength)
      tensors.set(name, { meta: { dtype, length: value.length }, bytes: copy ? view.slice() : view })
    } else if (ArrayBuffer.isView(value)) {
      throw badState(name, 'is a DataView or an unsupported typed array')
    } else {
      json[name] = value
    }
  }
  return { tensors, json }
}

/** A tensor from its stored bytes (copied into an aligned buffer of its own). */
export function decodeTensor(name: string, meta: TensorMeta, bytes: Uint8Array): Tensor {
  const type = DTYPES[meta.dtype]
  if (bytes.length !== meta.length * type.BYTES_PER_ELEMENT) {
    throw new CairnError(
      'CORRUPT_OBJECT',
      `tensor ${name} holds ${String(bytes.length)} bytes, not ${String(meta.length)} ${meta.dtype}`,
      { op: 'training.restore' },
    )
  }
  const buffer = new ArrayBuffer(bytes.length)
  new Uint8Array(buffer).set(bytes)
  return new type(buffer)
}

/** The tensors' metas from a checkpoint's meta, checked. */
export function tensorMetas(meta: JsonValue): Map<string, TensorMeta> {
  const found = new Map<string, TensorMeta>()
  const tensors = field(meta, 'tensors')
  if (tensors === null || typeof tensors !== 'object' || Array.isArray(tensors)) return found
  for (const [name, value] of Object.entries(tensors as Record<string, JsonValue>)) {
    const dtype = field(value, 'dtype')
    const length = field(value, 'length')
    if (typeof dtype !== 'string' || !(dtype in DTYPES) || typeof length !== 'number') {
      throw new CairnError('CORRUPT_OBJECT', `the checkpoint's meta describes tensor ${name} wrongly`, {
        op: 'training.restore',
      })
    }
    found.set(name, { dtype: dtype as Dtype, length })
  }
  return found
}

/** A field of a JSON object, or undefined. */
export function field(value: JsonValue | undefined, key: string): JsonValue | undefined {
  if (value === null || value === undefined || typeof value !== 'object' || Array.isArray(value))
    return undefined
  return (value as Record<string, JsonValue>)[key]
}

function badState(name: string, why: string): CairnError {
  return new CairnError('BAD_OPTION', `state value ${name} ${why}`, { op: 'training.save' })
}
