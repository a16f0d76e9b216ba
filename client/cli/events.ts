import { c, scalar as str, timeOrScalar } from './output.js';

/** What one audit entry line needs, from the store (`hv session watch`) or the workflow's tail (`hv session audit`). */
export interface AuditEvent {
  seq: number;
  kind: string;
  agentDid: string | null;
  recordedAtMs: number;
  payload: unknown;
}

type Payload = Record<string, unknown>;

/** Up to six scalar fields as `key=value`, for kinds without a dedicated summary. */
function fields(p: Payload): string {
  return Object.entries(p)
    .filter(([, v]) => v === null || typeof v !== 'object')
    .slice(0, 6)
    .map(([k, v]) => `${c.dim(`${k}=`)}${timeOrScalar(k, v)}`)
    .join(' ');
}

function summary(kind: string, p: Payload): string {
  switch (kind) {
    case 'decision': {
      const rings = `ring ${str(p.effectiveRing)}${p.requiredRing == null ? '' : `, needs ${str(p.requiredRing)}`}`;
      return p.allowed === true
        ? `${c.green('ALLOWED')} ${str(p.actionId)} (${rings})`
        : `${c.red('DENIED')} ${str(p.actionId)}: ${c.red(str(p.reason))} (${rings})`;
    }
    case 'ring_changed':
      return `ring ${str(p.from)} → ${c.bold(str(p.to))}${p.why ? ` (${str(p.why)})` : ''}`;
    case 'kill':
      return `${c.red(c.bold('KILLED'))} ${str(p.reason)} by ${str(p.authorizedBy)}${p.details ? `: ${str(p.details)}` : ''}`;
    case 'breach':
      return `${c.red(`breach ${str(p.severity)}`)} ${fields(p)}`;
    default:
      return fields(p);
  }
}

function paintKind(kind: string): string {
  const label = kind.padEnd(24);
  if (/kill|breach|denied|failed|break_glass|slash|trip/.test(kind)) return c.red(label);
  if (/ring_changed|elevation|quarantine|approved/.test(kind)) return c.yellow(label);
  if (kind.startsWith('saga_') || kind.includes('handoff')) return c.cyan(label);
  if (kind.startsWith('session_')) return c.bold(label);
  return label;
}

/** One readable line per audit entry: seq, time (UTC), kind, agent and a summary of the payload. */
export function formatEvent(e: AuditEvent): string {
  const time = new Date(e.recordedAtMs).toISOString().slice(11, 23);
  const payload = e.payload !== null && typeof e.payload === 'object' ? (e.payload as Payload) : {};
  const body = e.payload === null ? c.dim('(payload purged)') : summary(e.kind, payload);
  return `${c.dim(`#${String(e.seq).padStart(4)}`)} ${c.dim(time)} ${paintKind(e.kind)} ${e.agentDid ?? c.dim('—')}  ${body}`.trimEnd();
}
