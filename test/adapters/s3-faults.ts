/**
 * Request interceptors for the S3 adapter's tests (its `interceptRequest` option):
 *
 * - {@link S3Faults}: the network between the client and the server going wrong, at random (a
 *   seeded rate) or on demand (`force`): a 500, throttling (503 SlowDown), latency, a refused
 *   connection (never applied), and an ambiguous success (the request is sent and applied, then
 *   the client sees a reset connection).
 * - {@link conditionalShim}: makes s3rver, which ignores `If-None-Match`, honour `If-None-Match: *`
 *   the way S3 does (412 when the key exists), atomically for every writer that goes through the
 *   shim: conditional puts of one key are serialized and each checks existence first. With it the
 *   adapter's conditional-write path runs against a real server.
 */
import { Readable } from 'node:stream'
import { setTimeout as sleep } from 'node:timers/promises'
import { createRng } from '../../src/adapters/sim/rng.js'
import type { Rng } from '../../src/adapters/sim/rng.js'
import type { S3RequestInterceptor, S3WireRequest, S3WireResponse } from '../../src/adapters/s3/s3-options.js'

export const S3_FAULTS = ['status500', 'slowDown', 'latency', 'refused', 'ambiguous'] as const
export type S3Fault = (typeof S3_FAULTS)[number]

const encoder = new TextEncoder()

function s3ErrorResponse(statusCode: number, code: string, message: string): S3WireResponse {
  const xml = `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${message}</Message><RequestId>fault</RequestId></Error>`
  return { statusCode, headers: { 'content-type': 'application/xml' }, body: encoder.encode(xml) }
}

/** Reads a real response's body to its end, so the server has finished and the socket is free. */
async function drain(response: S3WireResponse): Promise<void> {
  const { body } = response
  if (body instanceof Readable) {
    await new Promise<void>((resolve) => {
      body
        .once('end', resolve)
        .once('error', () => {
          resolve()
        })
        .once('close', resolve)
        .resume()
    })
  }
}

export interface S3FaultsOptions {
  /** The chance that a request gets a random fault (0 for forced faults only). */
  readonly rate?: number
  /** The faults drawn at random. Default: all of them. */
  readonly kinds?: readonly S3Fault[]
  readonly seed?: number
  readonly latencyMs?: number
}

interface Forced {
  readonly fault: S3Fault
  readonly match: (request: S3WireRequest) => boolean
  remaining: number
}

export class S3Faults {
  /** How many faults of each kind were injected. */
  readonly injected: Record<S3Fault, number> = {
    status500: 0,
    slowDown: 0,
    latency: 0,
    refused: 0,
    ambiguous: 0,
  }
  /** Every request seen, as `METHOD path`. */
  readonly seen: string[] = []
  rate: number
  readonly #kinds: readonly S3Fault[]
  readonly #rng: Rng
  readonly #latencyMs: number
  readonly #forced: Forced[] = []

  constructor(options: S3FaultsOptions = {}) {
    this.rate = options.rate ?? 0
    this.#kinds = options.kinds ?? S3_FAULTS
    this.#rng = createRng(options.seed ?? 1)
    this.#latencyMs = options.latencyMs ?? 20
  }

  /** Injects `fault` into the next `times` requests that `match`. */
  force(fault: S3Fault, match: (request: S3WireRequest) => boolean = () => true, times = 1): void {
    this.#forced.push({ fault, match, remaining: times })
  }

  readonly intercept: S3RequestInterceptor = async (request, send) => {
    this.seen.push(`${request.method} ${request.path}`)
    const fault = this.#pick(request)
    if (fault === undefined) return send()
    this.injected[fault] += 1
    switch (fault) {
      case 'status500':
        return s3ErrorResponse(500, 'InternalError', 'We encountered an internal error. Please try again.')
      case 'slowDown':
        return s3ErrorResponse(503, 'SlowDown', 'Please reduce your request rate.')
      case 'latency':
        await sleep(this.#latencyMs)
        return send()
      case 'refused':
        throw Object.assign(new Error('connect ECONNREFUSED (injected)'), { code: 'ECONNREFUSED' })
      case 'ambiguous': {
        await drain(await send())
        throw Object.assign(new Error('socket hang up (injected after the server answered)'), {
          code: 'ECONNRESET',
        })
      }
    }
  }

  #pick(request: S3WireRequest): S3Fault | undefined {
    const forced = this.#forced.find((entry) => entry.remaining > 0 && entry.match(request))
    if (forced !== undefined) {
      forced.remaining -= 1
      return forced.fault
    }
    if (this.rate > 0 && this.#rng.next() < this.rate) return this.#kinds[this.#rng.int(this.#kinds.length)]
    return undefined
  }
}

/** True for a PutObject (not an UploadPart) request. */
export const isPutObject = (request: S3WireRequest): boolean =>
  request.method === 'PUT' && !('uploadId' in request.query)

/**
 * The shim described in the header. `exists(path)` tells whether the object at a request path
 * (`/bucket/key`) exists, through a route that bypasses the shim and the faults.
 */
export function conditionalShim(exists: (path: string) => Promise<boolean>): S3RequestInterceptor {
  const locks = new Map<string, Promise<void>>()
  return async (request, send) => {
    const conditional = request.headers['if-none-match'] === '*'
    const completes = request.method === 'POST' && 'uploadId' in request.query
    if (!conditional || !(isPutObject(request) || completes)) return send()
    const previous = locks.get(request.path) ?? Promise.resolve()
    let release = (): void => undefined
    const mine = new Promise<void>((resolve) => {
      release = resolve
    })
    const chained = previous.then(() => mine)
    locks.set(request.path, chained)
    await previous
    try {
      if (await exists(request.path)) {
        return s3ErrorResponse(
          412,
          'PreconditionFailed',
          'At least one of the pre-conditions you specified did not hold',
        )
      }
      // s3rver answers a PUT after it stored the object, so the next writer's check sees it.
      return await send()
    } finally {
      release()
      if (locks.get(request.path) === chained) locks.delete(request.path)
    }
  }
}

/** Chains interceptors: the first is nearest the client. */
export function chain(...interceptors: readonly S3RequestInterceptor[]): S3RequestInterceptor {
  return interceptors.reduceRight<S3RequestInterceptor>(
    (inner, outer) => (request, send) => outer(request, () => inner(request, send)),
    (_request, send) => send(),
  )
}
