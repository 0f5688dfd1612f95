/**
 * The S3 adapter beyond the conformance suite, against s3rver in a child process: retries and
 * their counter, ambiguous results, conditional-write detection, pagination, batched deletes,
 * multipart uploads, error mapping, and that no secret ever shows in an error.
 */
import { readdir, readFile } from 'node:fs/promises'
import { createServer } from 'node:net'
import { join } from 'node:path'
import { inspect } from 'node:util'
import { describe, expect, it } from 'vitest'
import { createS3BlobStore } from '../../src/adapters/s3/s3-blob-store.js'
import type { S3BlobStore } from '../../src/adapters/s3/s3-blob-store.js'
import type {
  S3ObjectsOptions,
  S3RequestInterceptor,
  S3WireResponse,
} from '../../src/adapters/s3/s3-options.js'
import { CairnError } from '../../src/core/errors.js'
import { collect, expectBytes, expectCairnError, text } from '../helpers.js'
import { isPutObject, S3Faults } from './s3-faults.js'
import {
  freshPrefix,
  openConditionalStore,
  s3Options,
  S3RVER_ACCESS_KEY_ID,
  useS3Server,
} from './s3-fixture.js'

const theServer = useS3Server()

/** Opens a store, runs `body`, closes it. */
async function withStore(
  extra: Partial<S3ObjectsOptions>,
  body: (store: S3BlobStore) => Promise<void>,
): Promise<void> {
  const store = await createS3BlobStore(s3Options(theServer(), extra))
  try {
    await body(store)
  } finally {
    await store.close()
  }
}

const bytes = (length: number, seed: number): Uint8Array =>
  new Uint8Array(length).map((_, i) => (i * 131 + seed * 17 + (i >> 9)) & 0xff)

describe('S3 store: opening', () => {
  it('detects that s3rver ignores If-None-Match, and removes its probe', async () => {
    const prefix = freshPrefix()
    await withStore({ prefix }, (store) => {
      expect(store.properties).toEqual({
        name: 's3',
        conditionalCreate: false,
        listAfterPut: true,
        concurrencyMax: 16,
      })
      expect(store.stats().requests).toEqual({ PutObject: 2, DeleteObjects: 1 })
      return Promise.resolve()
    })
    await withStore({ prefix: '', conditionalWrites: 'no' }, async (root) => {
      expect(await collect(root.list(`${prefix}/`))).toEqual([])
      expect(root.stats().requests).toEqual({ ListObjectsV2: 2 })
    })
  })

  it('detects a server that honours If-None-Match; conditionalWrites yes/no are taken as said', async () => {
    const { store, close } = await openConditionalStore(theServer())
    try {
      expect(store.properties.conditionalCreate).toBe(true)
    } finally {
      await close()
    }
    await withStore({ conditionalWrites: 'yes' }, (store) => {
      expect(store.properties.conditionalCreate).toBe(true)
      expect(store.stats().requests).toEqual({ ListObjectsV2: 1 })
      return Promise.resolve()
    })
  })

  it('refuses bad options and the probe key space', async () => {
    const server = theServer()
    for (const extra of [{ partBytes: 1024 }, { bucket: 'x' }, { maxAttempts: 0 }, { prefix: '/abs' }]) {
      await expect(createS3BlobStore(s3Options(server, extra))).rejects.toBeInstanceOf(CairnError)
    }
    await expectCairnError(createS3BlobStore(s3Options(server, { listPageKeys: 5000 })), 'BAD_OPTION')
    await withStore({}, async (store) => {
      await expectCairnError(store.put('.cairn-probe/x', text('x')), 'INVALID_KEY')
      await store.close()
      await expectCairnError(store.get('a'), 'CLOSED')
    })
  })
})

describe('S3 store: retries and ambiguous results', () => {
  const opts = (faults: S3Faults, extra: Partial<S3ObjectsOptions> = {}): Partial<S3ObjectsOptions> => ({
    interceptRequest: faults.intercept,
    conditionalWrites: 'no',
    ...extra,
  })

  it('retries 500 and 503 SlowDown and counts the retries', async () => {
    const faults = new S3Faults()
    await withStore(opts(faults), async (store) => {
      faults.force('status500', isPutObject)
      faults.force('slowDown', isPutObject)
      await store.put('a', text('alpha'))
      faults.force('slowDown', (request) => request.method === 'GET')
      expectBytes(await store.get('a'), text('alpha'))
      const stats = store.stats()
      expect(stats.retries).toBe(3)
      expect(stats.requests).toMatchObject({ PutObject: 3, GetObject: 2 })
    })
  })

  it('after maxAttempts of 503 the error is IO, retryable, naming the key', async () => {
    const faults = new S3Faults()
    await withStore(opts(faults, { maxAttempts: 3 }), async (store) => {
      faults.force('slowDown', isPutObject, 100)
      const error = await expectCairnError(store.put('slow/key', text('x')), 'IO')
      expect(error.context).toMatchObject({ op: 'blob.put', path: 'slow/key', retryable: true })
      expect(error.context.cause).toEqual({
        name: 'SlowDown',
        message: 'Please reduce your request rate.',
        httpStatusCode: 503,
      })
      expect(store.stats().retries).toBe(2)
      expect(store.stats().requests.PutObject).toBe(3)
    })
  })

  it('a put whose first attempt succeeded ambiguously is still correct', async () => {
    const faults = new S3Faults()
    await withStore(opts(faults), async (store) => {
      faults.force('ambiguous', isPutObject)
      await store.put('amb', text('value'))
      expectBytes(await store.get('amb'), text('value'))
      expect(store.stats()).toMatchObject({ retries: 1, requests: { PutObject: 2 } })
    })
  })

  it('an ifAbsent put whose first attempt succeeded ambiguously resolves (HEAD check, no conditional writes)', async () => {
    const faults = new S3Faults()
    await withStore(opts(faults), async (store) => {
      faults.force('ambiguous', isPutObject)
      await store.put('once', text('mine'), { ifAbsent: true })
      // HEAD (absent), PUT (applied, then a reset), HEAD (present), GET (the same bytes): success.
      expect(store.stats().requests).toEqual({ ListObjectsV2: 1, HeadObject: 2, PutObject: 1, GetObject: 1 })
      expectBytes(await store.get('once'), text('mine'))
    })
  })

  it('an ifAbsent put whose first attempt succeeded ambiguously resolves (412 with conditional writes)', async () => {
    const faults = new S3Faults()
    const { store, close } = await openConditionalStore(theServer(), faults.intercept)
    try {
      const opened = store.stats().requests // the probe: PutObject twice (the second refused), DeleteObjects
      expect(opened).toEqual({ PutObject: 2, DeleteObjects: 1 })
      faults.force('ambiguous', isPutObject)
      await store.put('once', text('mine'), { ifAbsent: true })
      // PUT (applied, then a reset), PUT (412: it exists), GET (the same bytes): success.
      expect(store.stats().requests).toMatchObject({ PutObject: 4, GetObject: 1 })
      expectBytes(await store.get('once'), text('mine'))
      await expectCairnError(store.put('once', text('other'), { ifAbsent: true }), 'ALREADY_EXISTS')
      expectBytes(await store.get('once'), text('mine'))
    } finally {
      await close()
    }
  })

  it('an ifAbsent put over a different existing object is ALREADY_EXISTS and changes nothing', async () => {
    await withStore({}, async (store) => {
      expect(store.properties.conditionalCreate).toBe(false)
      await store.put('taken', text('theirs'))
      const error = await expectCairnError(
        store.put('taken', text('mine!!'), { ifAbsent: true }),
        'ALREADY_EXISTS',
      )
      expect(error.context.path).toBe('taken')
      expectBytes(await store.get('taken'), text('theirs'))
    })
  })

  for (const conditional of [false, true]) {
    it(`an ambiguous ifAbsent put overtaken by another writer is ALREADY_EXISTS (conditional writes: ${String(conditional)})`, async () => {
      const prefix = freshPrefix()
      const other = await createS3BlobStore(s3Options(theServer(), { prefix, conditionalWrites: 'no' }))
      let raced = false
      // The put lands, another writer replaces it (same size), then the client sees a reset.
      const race: S3RequestInterceptor = async (request, send) => {
        const response = await send()
        if (raced || !isPutObject(request) || !request.path.endsWith('/contested')) return response
        raced = true
        await other.put('contested', text('theirs'))
        throw Object.assign(new Error('socket hang up (injected)'), { code: 'ECONNRESET' })
      }
      const opened = conditional
        ? await openConditionalStore(theServer(), race, { prefix })
        : await createS3BlobStore(s3Options(theServer(), { prefix, interceptRequest: race })).then(
            (store) => ({
              store,
              close: () => store.close(),
            }),
          )
      try {
        expect(opened.store.properties.conditionalCreate).toBe(conditional)
        await expectCairnError(
          opened.store.put('contested', text('mine!!'), { ifAbsent: true }),
          'ALREADY_EXISTS',
        )
        expect(raced).toBe(true)
        expect(opened.store.stats()).toMatchObject({ retries: 1, requests: { GetObject: 1 } })
        expectBytes(await opened.store.get('contested'), text('theirs'))
      } finally {
        await opened.close()
        await other.close()
      }
    })
  }
})

describe('S3 store: ranges', () => {
  it('reads exact ranges, including the first byte (s3rver returns the whole object for bytes=0-0)', async () => {
    await withStore({}, async (store) => {
      await store.put('r', text('0123456789'))
      expectBytes(await store.get('r', { offset: 0, length: 1 }), text('0'))
      expectBytes(await store.get('r', { offset: 9, length: 1 }), text('9'))
      expectBytes(await store.get('r', { offset: 3, length: 7 }), text('3456789'))
      expectBytes(await store.get('r', { offset: 10, length: 0 }), new Uint8Array(0))
      const past = await expectCairnError(store.get('r', { offset: 8, length: 3 }), 'OUT_OF_RANGE')
      expect(past.context).toMatchObject({ op: 'blob.get', path: 'r', offset: 8 })
      await expectCairnError(store.get('r', { offset: 10, length: 1 }), 'OUT_OF_RANGE')
      await expectCairnError(store.get('r', { offset: 1.5, length: 1 }), 'OUT_OF_RANGE')
      await expectCairnError(store.get('missing', { offset: 0, length: 0 }), 'NOT_FOUND')
      await expectCairnError(store.get('missing', { offset: 0, length: 4 }), 'NOT_FOUND')
    })
  })
  it('handles answers s3rver does not give: a range clipped at the end, a Range ignored, a short body', async () => {
    const answers: S3WireResponse[] = []
    const scripted: S3RequestInterceptor = (request, send) => {
      const answer = request.headers.range === undefined ? undefined : answers.shift()
      return answer === undefined ? send() : Promise.resolve(answer)
    }
    await withStore({ interceptRequest: scripted }, async (store) => {
      await store.put('r', text('0123456789'))
      const partial = (range: string, body: string): S3WireResponse => ({
        statusCode: 206,
        headers: { 'content-range': `bytes ${range}/10`, 'content-length': String(body.length) },
        body: text(body),
      })
      // S3 answers a range that runs past the end with what there is (206, bytes 5-9/10).
      answers.push(partial('5-9', '56789'))
      const clipped = await expectCairnError(store.get('r', { offset: 5, length: 6 }), 'OUT_OF_RANGE')
      expect(clipped.detail).toContain('of 10 bytes')
      // A server that ignores Range answers 200 with the whole object.
      answers.push({ statusCode: 200, headers: { 'content-length': '10' }, body: text('0123456789') })
      expectBytes(await store.get('r', { offset: 3, length: 4 }), text('3456'))
      answers.push({ statusCode: 200, headers: { 'content-length': '10' }, body: text('0123456789') })
      await expectCairnError(store.get('r', { offset: 8, length: 4 }), 'OUT_OF_RANGE')
      // A body short of a range the object holds is a transfer failure: retried, then whole.
      answers.push(partial('0-3', '0123'))
      const retries = store.stats().retries
      expectBytes(await store.get('r', { offset: 0, length: 5 }), text('01234'))
      expect(store.stats().retries).toBe(retries + 1)
    })
  })
})

describe('S3 store: listing and deleting many keys', () => {
  it('lists more than 1000 keys over many pages, each once, and deletes them in batches of 1000', async () => {
    await withStore({ listPageKeys: 100 }, async (store) => {
      const keys = Array.from(
        { length: 1001 },
        (_, i) => `many/${String(i % 7)}/k-${String(i).padStart(4, '0')}`,
      )
      for (let i = 0; i < keys.length; i += 50) {
        await Promise.all(keys.slice(i, i + 50).map((key) => store.put(key, text(key))))
      }
      const listed = await collect(store.list(''))
      expect(listed).toHaveLength(keys.length)
      expect(new Set(listed.map((info) => info.key))).toEqual(new Set(keys))
      expect(listed.every((info) => info.size === info.key.length)).toBe(true)
      const pages = store.stats().requests.ListObjectsV2
      expect(pages).toBe(11)
      expect(await collect(store.list('many/3/'))).toHaveLength(143)
      const before = store.stats()
      await store.delete([...keys, 'never/existed'])
      const after = store.stats()
      // Two batches (1000 + 2 keys); s3rver sometimes answers a big batch with a 500, retried.
      const deletes = (after.requests.DeleteObjects ?? 0) - (before.requests.DeleteObjects ?? 0)
      expect(deletes - (after.retries - before.retries)).toBe(2)
      expect(await collect(store.list(''))).toEqual([])
    })
  })
})

describe('S3 store: multipart uploads', () => {
  const MIB = 1024 * 1024
  const multipart = { multipartBytes: 5 * MIB, partBytes: 5 * MIB }

  it('a put above multipartBytes uploads parts and round-trips', async () => {
    await withStore(multipart, async (store) => {
      const data = bytes(11 * MIB + 17, 3)
      await store.put('big/one', data)
      expect(store.stats().requests).toMatchObject({
        CreateMultipartUpload: 1,
        UploadPart: 3,
        CompleteMultipartUpload: 1,
      })
      expect(await store.head('big/one')).toEqual({ key: 'big/one', size: data.length })
      expectBytes(await store.get('big/one'), data)
      expectBytes(
        await store.get('big/one', { offset: 5 * MIB - 10, length: 20 }),
        data.slice(5 * MIB - 10, 5 * MIB + 10),
      )
      await expectCairnError(store.put('big/one', data, { ifAbsent: true }), 'ALREADY_EXISTS')
    })
  })

  it('an ambiguous completion is resolved by reading the object back; a failed upload is aborted', async () => {
    const faults = new S3Faults()
    const isComplete = (request: { method: string; query: object }) =>
      request.method === 'POST' && 'uploadId' in request.query
    await withStore({ ...multipart, interceptRequest: faults.intercept, maxAttempts: 3 }, async (store) => {
      const data = bytes(6 * MIB, 5)
      faults.force('ambiguous', isComplete)
      await store.put('big/ambiguous', data, { ifAbsent: true })
      expectBytes(await store.get('big/ambiguous'), data)
      faults.force('status500', (request) => request.method === 'PUT' && 'uploadId' in request.query, 100)
      const error = await expectCairnError(store.put('big/failed', data), 'IO')
      expect(error.context.retryable).toBe(true)
      expect(store.stats().requests.AbortMultipartUpload).toBe(1)
      expect(await store.head('big/failed')).toBeUndefined()
    })
  })
})

describe('S3 store: errors', () => {
  const SECRET = 'cairnTestSECRET-9f8e7d6c5b4a'
  const TOKEN = 'cairnTestSESSION-0a1b2c3d4e5f'
  const credentials = { accessKeyId: S3RVER_ACCESS_KEY_ID, secretAccessKey: SECRET, sessionToken: TOKEN }

  const expectNoSecret = (error: CairnError): void => {
    const shown = [
      inspect(error, { depth: 10, showHidden: true }),
      JSON.stringify(error),
      JSON.stringify(error.context),
      JSON.stringify({ message: error.message, cause: error.cause }),
      String(error.stack),
    ].join('\n')
    expect(shown).not.toContain(SECRET)
    expect(shown).not.toContain(TOKEN)
  }

  const closedPort = async (): Promise<number> => {
    const probe = createServer()
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve))
    const address = probe.address()
    await new Promise<void>((resolve) =>
      probe.close(() => {
        resolve()
      }),
    )
    if (address === null || typeof address === 'string') throw new Error('no port')
    return address.port
  }

  it('maps failures to typed errors that name the key and never show a secret', async () => {
    const server = theServer()
    const errors: CairnError[] = []
    const seen = new S3Faults()
    await withStore({ credentials, interceptRequest: seen.intercept }, async (store) => {
      errors.push(await expectCairnError(store.get('no/such/key'), 'NOT_FOUND'))
      await store.put('exists', text('x'))
      errors.push(
        await expectCairnError(store.put('exists', text('y'), { ifAbsent: true }), 'ALREADY_EXISTS'),
      )
      errors.push(await expectCairnError(store.get('exists', { offset: 1, length: 1 }), 'OUT_OF_RANGE'))
      expect(JSON.stringify(store.stats())).not.toContain(SECRET)
    })
    // A bucket that does not exist.
    const noBucket = await expectCairnError(
      createS3BlobStore(s3Options(server, { credentials, bucket: 'no-such-bucket' })),
      'IO',
    )
    expect(noBucket.context.hint).toMatch(/bucket name/)
    errors.push(noBucket)
    // Credentials the server refuses: not retried, with a hint.
    const denied = await expectCairnError(
      createS3BlobStore(s3Options(server, { credentials: { ...credentials, accessKeyId: 'WRONG' } })),
      'IO',
    )
    expect(denied.context).toMatchObject({
      op: 'blob.open',
      hint: expect.stringMatching(/credentials/) as unknown,
    })
    expect(denied.context.retryable).toBeUndefined()
    errors.push(denied)
    // Nothing listening: a network failure, retried, then IO retryable.
    const endpoint = `http://127.0.0.1:${String(await closedPort())}`
    const unreachable = await expectCairnError(
      createS3BlobStore(s3Options(server, { credentials, endpoint, maxAttempts: 2 })),
      'IO',
    )
    expect(unreachable.context.retryable).toBe(true)
    expect(unreachable.context.cause).toMatchObject({ code: 'ECONNREFUSED' })
    errors.push(unreachable)
    for (const error of errors) {
      expect(error.context.path).toBeDefined()
      expectNoSecret(error)
    }
    // The interceptor never sees the session token (nor the signature).
    expect(JSON.stringify(seen.seen)).not.toContain(TOKEN)
  })

  it('masks a secret that a server echoes in its error message', async () => {
    const echo: S3RequestInterceptor = () =>
      Promise.resolve({
        statusCode: 400,
        headers: { 'content-type': 'application/xml' },
        body: text(`<Error><Code>InvalidArgument</Code><Message>bad key ${SECRET}</Message></Error>`),
      })
    const error = await expectCairnError(
      createS3BlobStore(
        s3Options(theServer(), { credentials, interceptRequest: echo, conditionalWrites: 'no' }),
      ),
      'IO',
    )
    expect(error.message).toContain('[redacted]')
    expectNoSecret(error)
  })
})

describe('S3 store: the SDK is loaded lazily', () => {
  it('no source file imports @aws-sdk statically (only types, and one dynamic import)', async () => {
    const root = join(import.meta.dirname, '../../src')
    const files = (await readdir(root, { recursive: true })).filter((name) => name.endsWith('.ts'))
    const dynamic: string[] = []
    for (const file of files) {
      const source = await readFile(join(root, file), 'utf8')
      for (const line of source.split('\n')) {
        if (!line.includes('@aws-sdk')) continue
        if (/^\s*import type /.test(line)) continue
        if (/await import\('@aws-sdk\/client-s3'\)/.test(line)) {
          dynamic.push(file)
          continue
        }
        if (/^\s*(import|export) .*from '@aws-sdk/.test(line) || /require\(/.test(line)) {
          throw new Error(`${file} imports the AWS SDK statically: ${line.trim()}`)
        }
      }
    }
    expect(dynamic).toEqual([join('adapters', 's3', 's3-client.ts')])
  })
})
