import { createAuditActivities, type AuditDeps } from './audit.js';
import { createInternalActivities, type InternalDeps } from './internal.js';
import { createKillSwitchActivities, type KillSwitchDeps } from './kill-switch.js';
import { createLiabilityActivities } from './liability.js';
import { createOperatorActivities, type OperatorDeps } from './operators.js';
import { createSagaActivities, createSagaRegistrationActivities, type SagaDeps } from './saga.js';
import { createStepActivities, type StepDeps } from './saga-steps.js';

export type ActivityDeps = AuditDeps & SagaDeps & StepDeps & KillSwitchDeps & InternalDeps & OperatorDeps;

/**
 * All activities, built from injected dependencies (docs/DESIGN.md §1.3). Workflows import only the `Activities`
 * type, never this module's values, so nothing here reaches the workflow sandbox.
 */
export const createActivities = (deps: ActivityDeps) => ({
  ...createAuditActivities(deps),
  ...createSagaActivities(deps),
  ...createSagaRegistrationActivities(deps),
  ...createStepActivities(deps),
  ...createLiabilityActivities(deps),
  ...createKillSwitchActivities(deps),
  ...createInternalActivities(deps),
  ...createOperatorActivities(deps),
});

export type Activities = ReturnType<typeof createActivities>;
