import { createAuditActivities, type AuditDeps } from './audit.js';

export type ActivityDeps = AuditDeps;

/**
 * All activities, built from injected dependencies (C2). Workflows import only the `Activities` type, never this
 * module's values, so nothing here reaches the workflow sandbox.
 */
export const createActivities = (deps: ActivityDeps) => ({ ...createAuditActivities(deps) });

export type Activities = ReturnType<typeof createActivities>;
