/**
 * What every command shares: the global options (`--dir`, `--json`, `--verbose`), the store they
 * name, output (human lines or one JSON document), progress bars (on a terminal only, never with
 * `--json`), and the exit codes.
 */
import { stat } from 'node:fs/promises'
import { resolve } from 'node:path'
import { SingleBar } from 'cli-progress'
import { CairnError } from '../core/errors.js'
import type { CairnErrorCode } from '../core/errors.js'
import { openStore } from '../store.js'
import type { Store } from '../store.js'

/** Exit codes: stable, documented in the README. */
export const EXIT = {
  ok: 0,
  /** The command ran and found something wrong: verify's problems, diff's differences. */
  found: 1,
  /** Bad usage: an unknown command or option, a missing argument. */
  usage: 2,
  /** The store or a path is not there. */
  notFound: 3,
  /** Another writer holds the store. */
  locked: 4,
  /** Damaged data: a log, an object or a chunk that does not check. */
  corrupt: 5,
  /** Any other failure (I/O, a full disk, a refused operation). */
  failed: 6,
} as const

/** The exit code for an error's code. */
export function exitCodeOf(code: CairnErrorCode): number {
  switch (code) {
    case 'BAD_OPTION':
    case 'INVALID_ID':
    case 'INVALID_KEY':
      return EXIT.usage
    case 'NOT_FOUND':
      return EXIT.notFound
    case 'LOCKED':
      return EXIT.locked
    case 'CORRUPT_LOG':
    case 'CORRUPT_OBJECT':
    case 'MISSING_CHUNK':
    case 'FORMAT_VERSION':
      return EXIT.corrupt
    case 'ALREADY_EXISTS':
    case 'CLOSED':
    case 'DISK_FULL':
    case 'IO':
    case 'LIMIT_EXCEEDED':
    case 'LOG_FAILED':
    case 'NOT_SUPPORTED':
    case 'OUT_OF_RANGE':
    case 'PRECONDITION_FAILED':
    case 'CONFLICT':
      return EXIT.failed
  }
}

export interface GlobalOptions {
  readonly dir: string
  readonly json: boolean
  readonly verbose: boolean
}

/** The store directory: `--dir`, else `$CAIRN_DIR`, else `./.cairn`. */
export function storeDir(option: string | undefined): string {
  return resolve(option ?? process.env.CAIRN_DIR ?? '.cairn')
}

export class Context {
  readonly options: GlobalOptions
  readonly #out: NodeJS.WriteStream

  constructor(options: GlobalOptions, out: NodeJS.WriteStream = process.stdout) {
    this.options = options
    this.#out = out
  }

  /** Opens the store (which must exist: `cairn init` makes one). */
  async open(options: { readonly readOnly?: boolean } = {}): Promise<Store> {
    const dir = this.options.dir
    const found = await stat(dir).then(
      (info) => info.isDirectory(),
      () => false,
    )
    if (!found) {
      throw new CairnError('NOT_FOUND', `no store at ${dir}`, {
        op: 'cli.open',
        path: dir,
        hint: 'run `cairn init` there, or name another with --dir or $CAIRN_DIR',
      })
    }
    return openStore({ dir, ...(options.readOnly === true ? { readOnly: true } : {}) })
  }

  /** Prints human lines (nothing with --json). */
  say(...lines: string[]): void {
    if (!this.options.json) for (const line of lines) this.#out.write(`${line}\n`)
  }

  /** Prints the command's result: the JSON document with --json, else the human lines. */
  result(json: unknown, human: () => string[]): void {
    if (this.options.json) this.#out.write(`${JSON.stringify(json, null, 2)}\n`)
    else for (const line of human()) this.#out.write(`${line}\n`)
  }

  /** A progress bar over `total` bytes, shown only on a terminal and never with --json. */
  progress(label: string, total: number): Progress {
    if (this.options.json || !this.#out.isTTY || total <= 0)
      return { update: () => undefined, stop: () => undefined }
    const bar = new SingleBar({
      format: `${label} [{bar}] {percentage}% | {done}/{size} | {rate}/s | ETA {eta_formatted}`,
      hideCursor: true,
      etaBuffer: 50,
      fps: 10,
      stream: this.#out,
    })
    const started = performance.now()
    bar.start(total, 0, { done: formatBytes(0), size: formatBytes(total), rate: formatBytes(0) })
    let value = 0
    return {
      update: (delta: number) => {
        value += delta
        const seconds = (performance.now() - started) / 1000
        bar.update(value, {
          done: formatBytes(value),
          size: formatBytes(total),
          rate: formatBytes(seconds > 0 ? value / seconds : 0),
        })
      },
      stop: () => {
        bar.stop()
      },
    }
  }
}

export interface Progress {
  /** `delta` more bytes done. */
  update(delta: number): void
  stop(): void
}

export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB']
  let value = bytes
  let unit = 0
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024
    unit++
  }
  return `${unit === 0 ? String(value) : value.toFixed(1)} ${units[unit] ?? 'B'}`
}

/** Rows as aligned columns. */
export function table(headers: readonly string[], rows: readonly (readonly string[])[]): string[] {
  const widths = headers.map((header, i) =>
    Math.max(header.length, ...rows.map((row) => (row[i] ?? '').length)),
  )
  const line = (cells: readonly string[]) =>
    cells
      .map((cell, i) => cell.padEnd(widths[i] ?? 0))
      .join('  ')
      .trimEnd()
  return [line(headers), ...rows.map(line)]
}
