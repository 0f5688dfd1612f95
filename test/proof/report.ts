/**
 * The proof's figures (shared/design/TESTING.md, "Figures to report"): what was explored, what
 * was injected, what was checked, and the hard gates that must stay at zero. `npm run test:crash`
 * and `npm run test:kill` each write their section of `reliability-report.json` and print a
 * summary.
 */
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'

export interface ProofCounters {
  /** I/O indexes a crash was placed before. */
  crashPoints: number
  /** Crash states recovered and checked, by crash model (after deduplication). */
  crashStates: Record<string, number>
  /** Crash states skipped because an identical durable image was checked already. */
  crashStatesDeduplicated: number
  /** Crashes placed inside a recovery, then recovered again. */
  secondCrashes: number
  /** Operations run, by kind. */
  ops: Record<string, number>
  /** Faults injected, by kind. */
  faults: Record<string, number>
  /** Operations that failed with a typed error a fault explains, by code. */
  typedFailures: Record<string, number>
  recordsAcknowledged: number
  /** Recovered records compared with the oracle (acknowledged: byte-exact; others: issued). */
  recordsChecked: number
  checkpointsAcknowledged: number
  /** Retained checkpoints restored byte-exact, summed over every check. */
  checkpointsRestored: number
  gcRuns: number
  recoveriesChecked: number
  restartsAfterFailure: number
  midLogInjected: number
  midLogDetected: number
  /** Damage in segments wholly behind the recovered checkpoint (truncated or not needed): nothing to detect. */
  midLogBehindCheckpoint: number
  rotDetected: number
  /** Hard gates: must stay 0 (a failing check stops the run before it counts). */
  ackedLost: number
  phantoms: number
  reachableChunksDeleted: number
  wrongBytes: number
  /** Real-process kill loop. */
  killIterations: number
  tornTailsCut: number
}

export function newCounters(): ProofCounters {
  return {
    crashPoints: 0,
    crashStates: {},
    crashStatesDeduplicated: 0,
    secondCrashes: 0,
    ops: {},
    faults: {},
    typedFailures: {},
    recordsAcknowledged: 0,
    recordsChecked: 0,
    checkpointsAcknowledged: 0,
    checkpointsRestored: 0,
    gcRuns: 0,
    recoveriesChecked: 0,
    restartsAfterFailure: 0,
    midLogInjected: 0,
    midLogDetected: 0,
    midLogBehindCheckpoint: 0,
    rotDetected: 0,
    ackedLost: 0,
    phantoms: 0,
    reachableChunksDeleted: 0,
    wrongBytes: 0,
    killIterations: 0,
    tornTailsCut: 0,
  }
}

/** Where the report goes: the repository root, or $CAIRN_PROOF_REPORT. */
export const REPORT_PATH: string =
  process.env.CAIRN_PROOF_REPORT ?? join(import.meta.dirname, '..', '..', 'reliability-report.json')

/** Writes `section` of the report (keeping the other command's section) and prints a summary. */
export function writeReport(
  section: 'crash' | 'kill',
  counters: ProofCounters,
  extra: { readonly budget: string; readonly seconds: number; readonly seed: number },
): string {
  let report: Record<string, unknown>
  try {
    report = JSON.parse(readFileSync(REPORT_PATH, 'utf8')) as Record<string, unknown>
  } catch {
    report = {}
  }
  const states = Object.values(counters.crashStates).reduce((sum, n) => sum + n, 0)
  report[section] = {
    date: new Date().toISOString(),
    node: process.version,
    ...extra,
    ...counters,
    crashStatesTotal: states,
    statesPerSecond: extra.seconds > 0 ? Math.round(states / extra.seconds) : 0,
    gates: {
      acknowledgedLoss: counters.ackedLost,
      phantoms: counters.phantoms,
      reachableChunkDeletions: counters.reachableChunksDeleted,
      wrongBytesReturned: counters.wrongBytes,
    },
  }
  writeFileSync(REPORT_PATH, JSON.stringify(report, null, 2) + '\n')
  const faults = Object.entries(counters.faults)
    .map(([kind, n]) => `${kind} ${String(n)}`)
    .join(', ')
  const lines = [
    `${section} proof (${extra.budget} budget, seed ${String(extra.seed)}, ${extra.seconds.toFixed(1)} s):`,
    section === 'crash'
      ? `  ${String(counters.crashPoints)} crash points, ${String(states)} crash states checked (${Object.entries(
          counters.crashStates,
        )
          .map(([model, n]) => `${model} ${String(n)}`)
          .join(', ')}), ${String(counters.crashStatesDeduplicated)} duplicates skipped, ${String(
          counters.secondCrashes,
        )} crashes during recovery, ${String(counters.tornTailsCut)} torn tails cut, ${String(extra.seconds > 0 ? Math.round(states / extra.seconds) : 0)} states/s`
      : `  ${String(counters.killIterations)} SIGKILLs (at random moments and inside checkpoints and GC), ${String(counters.tornTailsCut)} torn tails cut`,
  ]
  if (section === 'crash')
    lines.push(
      `  operations: ${Object.entries(counters.ops)
        .map(([kind, n]) => `${kind} ${String(n)}`)
        .join(', ')}`,
      `  faults: ${faults === '' ? 'none' : faults}; operations failed with a typed error: ${
        Object.entries(counters.typedFailures)
          .map(([code, n]) => `${code} ${String(n)}`)
          .join(', ') || 'none'
      }`,
    )
  lines.push(
    `  ${String(counters.recordsAcknowledged)} records acknowledged, ${String(counters.recordsChecked)} recovered records checked; ${String(
      counters.checkpointsAcknowledged,
    )} checkpoints acknowledged, ${String(counters.checkpointsRestored)} restores byte-exact; ${String(counters.gcRuns)} GC runs`,
  )
  if (section === 'crash')
    lines.push(
      `  mid-log damage: ${String(counters.midLogInjected)} injected, ${String(counters.midLogDetected)} detected, ${String(
        counters.midLogBehindCheckpoint,
      )} wholly behind the checkpoint (nothing needs them); bit rot detected by verify ${String(counters.rotDetected)} times`,
    )
  lines.push(
    `  gates: acknowledged loss ${String(counters.ackedLost)}, phantoms ${String(counters.phantoms)}, reachable chunks deleted ${String(
      counters.reachableChunksDeleted,
    )}, wrong bytes returned ${String(counters.wrongBytes)}`,
    `  report: ${REPORT_PATH}`,
  )
  return lines.join('\n')
}
