/**
 * At most one run at a time, for the background work a cadence starts (checkpoints, autosaves):
 * `track` marks a run as the current one, `current` settles when it ends (it never rejects: the
 * run's own promise carries its outcome), and `idle` waits until none runs, however many start
 * while it waits.
 */
export class OneAtATime {
  #running: Promise<void> | undefined

  /** True while a run is in progress. */
  get busy(): boolean {
    return this.#running !== undefined
  }

  /** Settles (never rejects) when the current run ends; undefined when none runs. */
  get current(): Promise<void> | undefined {
    return this.#running
  }

  /** Resolves once no run is in progress. */
  async idle(): Promise<void> {
    while (this.#running !== undefined) await this.#running
  }

  /**
   * Makes `run` the current run and returns it as it is. When it ends, and no later run took its
   * place, the slot is free again and `after` runs (to start the next one if it is due).
   */
  track<T>(run: Promise<T>, after?: () => void): Promise<T> {
    const settled = run.then(
      () => undefined,
      () => undefined,
    )
    this.#running = settled
    void settled.then(() => {
      if (this.#running !== settled) return
      this.#running = undefined
      after?.()
    })
    return run
  }
}
