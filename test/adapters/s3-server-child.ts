/**
 * The child process of `startS3Server` (s3-server.ts): runs s3rver, a fake S3 server, on a
 * loopback port chosen by the OS and reports that port to its parent over IPC.
 *
 * Argv: `<directory> <bucket>`. It runs under `--openssl-legacy-provider` (s3rver ciphers its
 * ListObjectsV2 continuation tokens with an algorithm OpenSSL 3 keeps in the legacy provider) and
 * exits when its parent disconnects, so a crashed test run leaves no server behind.
 */
import { createRequire } from 'node:module'
import type { AddressInfo } from 'node:net'

interface S3rverOptions {
  readonly address: string
  readonly port: number
  readonly directory: string
  readonly silent: boolean
  readonly configureBuckets: readonly { readonly name: string }[]
}
interface S3rverInstance {
  run(): Promise<AddressInfo>
  close(): Promise<void>
}
type S3rverConstructor = new (options: S3rverOptions) => S3rverInstance

/** What the child sends its parent once it listens. */
export interface S3ServerReady {
  readonly port: number
}

const require = createRequire(import.meta.url)
const S3rver = require('s3rver') as S3rverConstructor

const [directory, bucket] = process.argv.slice(2)
if (directory === undefined || bucket === undefined || process.send === undefined) {
  throw new Error('usage: fork s3-server-child.ts <directory> <bucket> with an IPC channel')
}

const server = new S3rver({
  address: '127.0.0.1',
  port: 0,
  directory,
  silent: true,
  configureBuckets: [{ name: bucket }],
})
const address = await server.run()
const ready: S3ServerReady = { port: address.port }
process.send(ready)
process.on('disconnect', () => {
  void server.close().finally(() => process.exit(0))
})
