/**
 * The BlobStore conformance suite against a real S3 protocol server (s3rver in a child process):
 * plain; through random network faults that the retries must hide; and with conditional writes
 * (s3rver behind a shim that honours If-None-Match) through the same faults, which runs the
 * "exactly one ifAbsent wins" race.
 */
import { describe, expect, it } from 'vitest'
import { createS3BlobStore } from '../../src/adapters/s3/s3-blob-store.js'
import type { S3BlobStore } from '../../src/adapters/s3/s3-blob-store.js'
import { describeBlobStoreContract } from '../contract/blob-store-contract.js'
import { S3Faults } from './s3-faults.js'
import { openConditionalStore, s3Options, useS3Server } from './s3-fixture.js'

const theServer = useS3Server()

describeBlobStoreContract('s3 (s3rver)', async () => {
  const store = await createS3BlobStore(s3Options(theServer()))
  return { store, cleanup: () => store.close() }
})

// One fault source per suite, seeded; ~15% of requests fail, and the retries must hide them all.
const faults = new S3Faults({ rate: 0.15, seed: 42, latencyMs: 15 })
const faultyStores: S3BlobStore[] = []
describeBlobStoreContract('s3 (s3rver, faults)', async () => {
  const store = await createS3BlobStore(s3Options(theServer(), { interceptRequest: faults.intercept }))
  faultyStores.push(store)
  return { store, cleanup: () => store.close() }
})

const conditionalFaults = new S3Faults({ rate: 0.15, seed: 7, latencyMs: 15 })
const conditionalStores: S3BlobStore[] = []
describeBlobStoreContract('s3 (s3rver + conditional writes, faults)', async () => {
  const { store, close } = await openConditionalStore(theServer(), conditionalFaults.intercept)
  expect(store.properties.conditionalCreate).toBe(true)
  conditionalStores.push(store)
  return { store, cleanup: close }
})

describe('the fault suites', () => {
  it('injected every kind of fault, and the retries hid them', () => {
    for (const [source, stores] of [
      [faults, faultyStores],
      [conditionalFaults, conditionalStores],
    ] as const) {
      for (const count of Object.values(source.injected)) expect(count).toBeGreaterThan(0)
      const retries = stores.reduce((sum, store) => sum + store.stats().retries, 0)
      const { status500, slowDown, refused, ambiguous } = source.injected
      expect(retries).toBe(status500 + slowDown + refused + ambiguous)
    }
  })
})
