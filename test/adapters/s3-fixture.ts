/** Opening S3 stores against the test server, each under a fresh random prefix. */
import { randomBytes } from 'node:crypto'
import { createS3BlobStore } from '../../src/adapters/s3/s3-blob-store.js'
import type { S3BlobStore } from '../../src/adapters/s3/s3-blob-store.js'
import type { S3ObjectsOptions } from '../../src/adapters/s3/s3-options.js'
import type { S3RequestInterceptor } from '../../src/adapters/s3/s3-options.js'
import { chain, conditionalShim } from './s3-faults.js'
import { afterAll, beforeAll } from 'vitest'
import { startS3Server } from './s3-server.js'
import type { S3Server } from './s3-server.js'

/**
 * Starts an S3 server for the test file (before its tests, stopped after them) and returns how to
 * reach it once started.
 */
export function useS3Server(): () => S3Server {
  let server: S3Server | undefined
  beforeAll(async () => {
    server = await startS3Server()
  })
  afterAll(async () => {
    await server?.stop()
  })
  return () => {
    if (server === undefined) throw new Error('the S3 server did not start')
    return server
  }
}

/** s3rver accepts any secret with its access key id (it does not check SigV4 signatures). */
export const S3RVER_ACCESS_KEY_ID = 'S3RVER'

export function freshPrefix(): string {
  return `t-${randomBytes(6).toString('hex')}`
}

/** The options that reach `server`, fast retries, and a fresh prefix; `extra` overrides. */
export function s3Options(server: S3Server, extra: Partial<S3ObjectsOptions> = {}): S3ObjectsOptions {
  return {
    bucket: server.bucket,
    endpoint: server.endpoint,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: { accessKeyId: S3RVER_ACCESS_KEY_ID, secretAccessKey: 'not-checked-by-s3rver' },
    prefix: freshPrefix(),
    backoffBaseMs: 2,
    backoffCapMs: 20,
    ...extra,
  }
}

/**
 * A store whose server honours `If-None-Match: *` (s3rver behind {@link conditionalShim}),
 * reached through `outer` (e.g. faults) when given. `close` closes the store and the shim's own.
 */
export async function openConditionalStore(
  server: S3Server,
  outer?: S3RequestInterceptor,
  extra: Partial<S3ObjectsOptions> = {},
): Promise<{ readonly store: S3BlobStore; readonly close: () => Promise<void> }> {
  const plain = await createS3BlobStore(s3Options(server, { prefix: '', conditionalWrites: 'no' }))
  const bucketPath = `/${server.bucket}/`
  const shim = conditionalShim(
    async (path) => (await plain.head(decodeURIComponent(path.slice(bucketPath.length)))) !== undefined,
  )
  const store = await createS3BlobStore(
    s3Options(server, { interceptRequest: outer === undefined ? shim : chain(outer, shim), ...extra }),
  )
  return {
    store,
    close: async () => {
      await store.close()
      await plain.close()
    },
  }
}
