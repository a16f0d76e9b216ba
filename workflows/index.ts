export { sessionWorkflow } from './session/workflow.js';
export { auditRetentionWorkflow } from './audit-retention.js';
export { sagaWorkflow } from './saga/workflow.js';
export { agentWorkflow } from './agent.js';
export { operatorRegistryWorkflow } from './operator-registry.js';
