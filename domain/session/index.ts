/**
 * The session's rules, one file per topic. Every operation is a reducer `(data, input, ctx) → { data, result, events }`
 * over the session's JSON state: pure and deterministic, so the workflow can dry-run it in an update validator and
 * replay it from history.
 */
export * from './context.js';
export * from './participants.js';
export * from './lifecycle.js';
export * from './membership.js';
export * from './authorize.js';
export * from './elevation.js';
export * from './control.js';
export * from './shared-state.js';
export * from './locks.js';
export * from './vouch.js';
export * from './timers.js';
export * from './sagas.js';
export * from './kill-switch.js';
export * from './policy.js';
export * from './view.js';
export * from './carry.js';
