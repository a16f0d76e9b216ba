import { mergeDirectories, type OperatorDirectory, type OperatorEntry } from '../domain/operators.js';
import type { Pool } from '../store/db.js';
import { readOperatorDirectory, writeOperatorDirectory } from '../store/operators.js';

export interface OperatorDeps {
  pool: Pool;
  /**
   * The bootstrap admin from the worker's configuration (`HV_OPERATOR_BOOTSTRAP_KEY`): known to every workflow
   * whatever the registry holds, and never taken from a workflow's start arguments (whoever starts a workflow
   * controls those).
   */
  operatorBootstrap?: OperatorEntry | null;
}

/** What a workflow loads: the directory, and whether the registry's mirror was part of it. */
export interface LoadedOperators {
  directory: OperatorDirectory;
  /** False when the mirror could not be read (database down): the bootstrap admin alone, worth a later refresh. */
  complete: boolean;
}

/** The operator directory's trusted store, read by session and identity workflows and written by the registry. */
export function createOperatorActivities(deps: OperatorDeps) {
  const bootstrap: OperatorDirectory = { operators: deps.operatorBootstrap ? [deps.operatorBootstrap] : [] };
  return {
    /**
     * Run as a local activity at each run's start and on `refreshOperatorKeys`. A database outage does not stop it:
     * the bootstrap admin alone is returned (`complete: false`), so an admin can still kill or terminate.
     */
    async loadOperatorDirectory(): Promise<LoadedOperators> {
      try {
        return { directory: mergeDirectories(bootstrap, await readOperatorDirectory(deps.pool)), complete: true };
      } catch {
        return { directory: bootstrap, complete: false };
      }
    },
    /** Mirrors the registry's directory (idempotent upserts). */
    async mirrorOperatorDirectory(input: { directory: OperatorDirectory }): Promise<void> {
      await writeOperatorDirectory(deps.pool, input.directory);
    },
  };
}
