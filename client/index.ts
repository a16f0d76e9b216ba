/**
 * The package's library entry point (`import { HypervisorClient } from 'agent-hypervisor'`): the client an agent
 * team's own code uses to open sessions, authorize actions, run sagas and verify the audit trail.
 */
export { HypervisorClient, SessionHandle, AgentHandle, type ConnectOptions } from './hypervisor-client.js';
export { HypervisorError, exitCodeFor } from './errors.js';
export {
  readSagaDefinitionFile,
  validateSaga,
  startSaga,
  resumeSaga,
  SagaHandle,
  type StartSagaOptions,
} from './saga.js';
export { verifyAuditChain, verifyExportFile, type VerifyAuditOptions, type VerifyAuditReport } from './audit.js';
export { temporalTarget, type TemporalTarget } from './connection.js';
export { tracingEnabled, tracingClientInterceptors, flushTracing } from './tracing.js';
export { AUTHORIZE_LATENCY, authorizeLatencyObserver, type AuthorizeObserver } from './metrics.js';
