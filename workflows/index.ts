export { sessionWorkflow } from './session.js';
export { auditRetentionWorkflow } from './audit-retention.js';
