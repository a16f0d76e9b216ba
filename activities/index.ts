import type { Pool } from './db.js';

export interface ActivityDeps {
  pool: Pool;
}

/**
 * All activities, built from injected dependencies (C2). Workflows import only the `Activities` type, never this
 * module's values, so nothing here reaches the workflow sandbox.
 */
export const createActivities = (_deps: ActivityDeps) => ({});

export type Activities = ReturnType<typeof createActivities>;
