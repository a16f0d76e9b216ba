import type { SagaView } from '../../domain/saga-types.js';
import type { Decision, JoinResult, SessionView } from '../../domain/session-types.js';
import { c, table, when } from './output.js';

/** Colour of a lifecycle state (session, participant, saga or step), by how good the news is. */
export function paintState(state: string): string {
  if (/^(active|allowed|committed|completed|running|executing)$/.test(state)) return c.green(state);
  if (/^(killed|failed|escalated|compensation_failed|denied|archived)$/.test(state)) return c.red(state);
  if (/^(compensating|compensated|left|handshaking|terminating|pending|quarantined)$/.test(state))
    return c.yellow(state);
  return state;
}

const ringLabel = (p: SessionView['participants'][number]): string =>
  p.elevation
    ? `${c.bold(String(p.effectiveRing))} ${c.magenta(`(elevated from ${p.ring} until ${when(p.elevation.expiresAtMs)})`)}`
    : c.bold(String(p.ring));

/** `hv session show`: a header, the participants with their rings and state, locks and the audit position. */
export function formatSession(v: SessionView): string {
  const participants = v.participants.map((p) => [
    p.agentDid,
    ringLabel(p),
    paintState(p.status),
    p.sigmaRaw.toFixed(2),
    p.effScore.toFixed(2),
    String(p.actions.length),
    p.kill ? `${p.kill.reason} by ${p.kill.authorizedBy}` : p.parentDid ? `child of ${p.parentDid}` : '',
  ]);
  const audit = `${v.audit.entries} entries (${v.audit.persistedSeq} persisted, ${v.audit.pending} pending)`;
  const lines = [
    `${c.bold(`session ${v.sessionId}`)}  ${paintState(v.state)}`,
    `  creator   ${v.creatorDid}`,
    `  created   ${when(v.createdAtMs)}   deadline ${when(v.deadlineMs)}` +
      (v.terminatedAtMs ? `   ended ${when(v.terminatedAtMs)} (${v.terminationReason ?? ''})` : ''),
    `  decisions ${c.green(`${v.stats.allowed} allowed`)}, ${c.red(`${v.stats.denied} denied`)}, ${v.stats.breaches} breaches`,
    `  audit     ${audit}, head ${v.audit.head.slice(0, 16)}…${v.audit.fault ? c.red(`  FAULT: ${v.audit.fault}`) : ''}`,
    `  state     ${v.vfs.files} files, ${v.vfs.totalBytes} bytes, ${v.vfs.snapshots.length} snapshots`,
    '',
    v.participants.length === 0
      ? c.dim('no participants')
      : table(['AGENT', 'RING', 'STATE', 'σ', 'EFF', 'ACTIONS', 'NOTE'], participants),
  ];
  if (v.locks.length > 0)
    lines.push(
      '',
      table(
        ['LOCK', 'PATH', 'INTENT', 'HOLDER'],
        v.locks.map((l) => [l.lockId, l.path, l.intent, l.agentDid]),
      ),
    );
  const waiting = Object.entries(v.approvals);
  if (waiting.length > 0)
    lines.push('', ...waiting.map(([candidate, by]) => `  approval of ${candidate} by ${by.join(', ')}`));
  return lines.join('\n');
}

/** `hv authorize`: the decision on one line. */
export function formatDecision(d: Decision, request: { agentDid: string; actionId: string }): string {
  const subject = `${request.agentDid} → ${request.actionId}`;
  const rings = `ring ${d.effectiveRing}${d.requiredRing === null ? '' : `, needs ${d.requiredRing}`}`;
  const extra = [
    d.retryAfterMs > 0 ? `retry after ${d.retryAfterMs} ms` : d.retryAfterMs < 0 ? 'cost can never fit' : '',
    d.breach ? `breach ${d.breach.severity} (score ${d.breach.score.toFixed(1)}, ${d.breach.action})` : '',
  ].filter(Boolean);
  const verdict = d.allowed ? c.green(c.bold('ALLOWED')) : c.red(c.bold('DENIED'));
  const reason = d.allowed ? '' : `: ${c.red(d.reason)}`;
  return `${verdict} ${subject}${reason} (${rings})${extra.length > 0 ? ` — ${extra.join('; ')}` : ''}`;
}

/** `hv session join`. */
export const formatJoin = (j: JoinResult): string =>
  `joined ${j.agentDid}: ring ${c.bold(String(j.ring))}, eff-score ${j.effScore.toFixed(2)}, ${
    j.standing === 'admit' ? c.green('admit') : c.yellow('probation')
  }${j.sandboxed ? c.yellow(' (sandboxed)') : ''}`;

/** `hv saga show` and `hv saga start --wait`: the saga's status and one row per step. */
export function formatSaga(s: SagaView): string {
  const rows = s.steps.map((step) => [
    step.stepId,
    step.actionId,
    step.agentDid,
    paintState(step.state),
    String(step.attempts),
    step.compensationError ?? step.error ?? '',
  ]);
  return [
    `${c.bold(`saga ${s.sagaId}`)} (${s.name})  ${paintState(s.status)}`,
    `  session   ${s.sessionId}`,
    `  started   ${when(s.startedAtMs)}${s.completedAtMs ? `   ended ${when(s.completedAtMs)}` : ''}`,
    ...(s.error ? [`  ${c.red(`error     ${s.error}`)}`] : []),
    '',
    table(['STEP', 'ACTION', 'AGENT', 'STATE', 'ATTEMPTS', 'ERROR'], rows),
  ].join('\n');
}
