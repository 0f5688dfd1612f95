/**
 * cairn: the one public entry. An explicit export list, so what is public is a decision.
 *
 * Layers (imports point down only): core (vocabulary, ports) <- wal, chunkstore, snapshot,
 * retention <- store <- this file. Adapters implement the ports and are wired here.
 */
export { CairnError, isCairnError, CAIRN_ERROR_CODES } from './core/errors.js'
export type { CairnErrorCode, CairnErrorContext } from './core/errors.js'
export { AssertionError } from './core/assert.js'
export { parseLsn, parseChunkId, parsePackId, parseCheckpointId, shortId } from './core/ids.js'
export type { Lsn, ChunkId, PackId, CheckpointId } from './core/ids.js'
export { parseKey } from './core/paths.js'
export type {
  Vfs,
  VfsFile,
  VfsStat,
  VfsProperties,
  OpenMode,
  BlobStore,
  BlobInfo,
  BlobStoreProperties,
  ByteRange,
} from './core/ports.js'
export { createNodeVfs, NodeVfs } from './adapters/node/node-vfs.js'
export type { NodeVfsOptions } from './adapters/node/node-vfs.js'
export { fileEntry } from './adapters/node/file-entry.js'
export { createFsBlobStore, FsBlobStore } from './adapters/blob-fs/fs-blob-store.js'
export type { FsBlobStoreOptions } from './adapters/blob-fs/fs-blob-store.js'
// The S3 adapter loads the AWS SDK lazily, inside createS3BlobStore: importing cairn never loads it.
export { createS3BlobStore, S3BlobStore } from './adapters/s3/s3-blob-store.js'
export type { S3Stats } from './adapters/s3/s3-blob-store.js'
export type {
  S3ObjectsOptions,
  S3Credentials,
  S3RequestInterceptor,
  S3WireRequest,
  S3WireResponse,
} from './adapters/s3/s3-options.js'
export { MemoryBlobStore } from './adapters/memory/memory-blob-store.js'
export { SimDisk } from './adapters/sim/sim-disk.js'
export type { SimDiskOptions, TraceLine } from './adapters/sim/sim-disk.js'
export { CRASH_MODELS } from './adapters/sim/crash.js'
export type { CrashModel } from './adapters/sim/crash.js'
export { SIM_OPS } from './adapters/sim/faults.js'
export type { FaultKind, FaultRule, SimOp } from './adapters/sim/faults.js'
export { createRng } from './adapters/sim/rng.js'
export type { Rng } from './adapters/sim/rng.js'
export { openWal, Wal, SYNC_MODES, RECOVERY_MODES } from './wal/index.js'
export type { WalOptions, WalStats, SyncMode, RecoveryMode, RecoveryReport, LogRecord } from './wal/index.js'
export { crc32c } from './core/crc32c.js'
export { openChunkStore, ChunkStore, PACK_BYTES_DEFAULT } from './chunkstore/chunk-store.js'
export type {
  ChunkStoreOptions,
  ChunkStoreStats,
  ChunkRef,
  PutEntryResult,
} from './chunkstore/chunk-store.js'
export type { EntrySource, EntryReader } from './chunkstore/source.js'
export type { VerifyOptions, VerifyReport, VerifyProblem } from './chunkstore/verify.js'
export type { IndexSyncReport } from './chunkstore/index-sync.js'
export { MemoryChunkIndex } from './chunkstore/chunk-index.js'
export type { ChunkIndex } from './chunkstore/chunk-index.js'
export type { IndexEntry } from './chunkstore/index-object.js'
export { CHUNKING_DEFAULTS, parseChunking } from './chunkstore/chunker.js'
export type { ChunkingOptions } from './chunkstore/chunker.js'
export { openLmdbChunkIndex, LmdbChunkIndex } from './adapters/lmdb/lmdb-chunk-index.js'
export type { LmdbChunkIndexOptions } from './adapters/lmdb/lmdb-chunk-index.js'
export { openStore, Store } from './store.js'
export type {
  StoreOptions,
  SharedObjectsOptions,
  CheckpointOptions,
  Recovery,
  RecoveryWarning,
} from './store.js'
export type { SharedTiming } from './snapshot/commit-guard.js'
export { Snapshot } from './snapshot/snapshot.js'
export type { CheckpointInfo } from './snapshot/snapshot.js'
export { CHAIN_POLICY_DEFAULTS } from './snapshot/commit.js'
export type { ChainPolicy, CheckpointRequest } from './snapshot/commit.js'
export type { JsonValue } from './snapshot/manifest.js'
export { planRetention, formatPlan } from './retention/plan.js'
export type { RetentionPolicy, RetentionPlan, PlanEntry, RetainedCheckpoint } from './retention/plan.js'
export type { GcReport, StoreVerifyReport, StoreVerifyProblem } from './store.js'
export { CheckpointManager } from './training/index.js'
export type {
  CheckpointManagerOptions,
  Restored,
  SavedStep,
  KeepEvery,
  Dtype,
  Tensor,
  TrainingState,
} from './training/index.js'
export {
  openSaves,
  SaveGames,
  Autosave,
  COMPACT_EVERY_DEFAULT,
  SAVE_HISTORY_DEFAULT,
  AUTOSAVE_SLOT_DEFAULT,
  WORLD_ENTRY,
  SLOT_NAME_LENGTH_MAX,
  SAVE_TAG_LENGTH_MAX,
} from './saves/index.js'
export type {
  SaveOptions,
  SlotInfo,
  SavesOptions,
  HistoryPolicy,
  SlotPlan,
  AutosaveOptions,
  CaptureWorld,
  SaveInfo,
  World,
  WorldFormat,
  WorldInput,
} from './saves/index.js'
export {
  openKv,
  Kv,
  IMAGE_ENTRY,
  IMAGE_FORMAT_VERSION,
  kvKeyBytesMax,
  kvValueBytesMax,
  kvBatchOpsMax,
} from './kv/index.js'
export type { KvOptions, KvEntry, KvBatchOp, KvScanOptions, KvRecovery, KvStats, KvKey } from './kv/index.js'
