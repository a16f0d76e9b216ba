/**
 * What verifying an internal message costs inside a workflow (docs/DESIGN.md §3.5, §9): the pure-JS Ed25519 check of
 * domain/internal-signature.ts (canonical JSON, SHA-512, the curve), in-process, on the messages the workflows verify,
 * at their typical and largest sizes; and the node:crypto signature the sending activity adds. Run on its own:
 * `npx tsx bench/internal-signature.ts` (add `--json` for one JSON line per figure).
 */
import { verifyInternalMessage } from '../domain/internal-signature.js';
import { COPY_EVENTS } from '../domain/kill-switch.js';
import { AUDIT_BATCH_SIZE } from '../domain/limits.js';
import { generateInternalKey, internalSignerFromPem } from '../store/internal-crypto.js';

const signer = internalSignerFromPem(generateInternalKey().privatePem);
const nowMs = Date.now();

const decisions = (count: number) =>
  Array.from({ length: count }, (_, i) => ({
    n: i + 1,
    kind: i % 3 ? 'allow' : 'deny',
    atMs: nowMs,
    decisionId: `s#${i}`,
  }));
const notice = (events: number) => ({
  agentDid: 'did:mesh:agent-1',
  event: 'configured',
  trigger: 'operator',
  reason: 'configured',
  authorizedBy: null,
  trippingSessionId: null,
  decisionId: null,
  windowSeconds: 300,
  seq: 7,
  ...(events > 0
    ? {
        copy: {
          agentDid: 'did:mesh:agent-1',
          config: { enabled: true, window_seconds: 300, deny_rate_threshold: 0.9, min_calls: 10 },
          events: Array.from({ length: events }, (_, i) => ({ atMs: nowMs - i, denied: i % 2 === 0 })),
          blocked: null,
          trips: 0,
        },
      }
    : {}),
});

const cases: Array<{ name: string; message: string; target: string; body: object }> = [
  { name: 'registerSession', message: 'registerSession', target: 'agent:did:mesh:a', body: { sessionId: 's-1' } },
  {
    name: 'reportDecisions ×1',
    message: 'reportDecisions',
    target: 'agent:a',
    body: { sessionId: 's', decisions: decisions(1) },
  },
  {
    name: `reportDecisions ×${AUDIT_BATCH_SIZE}`,
    message: 'reportDecisions',
    target: 'agent:a',
    body: { sessionId: 's', decisions: decisions(AUDIT_BATCH_SIZE) },
  },
  { name: 'killSwitchNotice (trip)', message: 'killSwitchNotice', target: 'session:s', body: notice(0) },
  {
    name: `killSwitchNotice (copy of ${COPY_EVENTS})`,
    message: 'killSwitchNotice',
    target: 'session:s',
    body: notice(COPY_EVENTS),
  },
  {
    name: 'handOffSteps',
    message: 'handOffSteps',
    target: 'saga:x',
    body: { agentDid: 'did:mesh:a', substituteDid: 'did:mesh:b' },
  },
];

const quantile = (sorted: number[], q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;

function time(fn: () => void, calls: number): { meanUs: number; p50Us: number; p99Us: number } {
  for (let i = 0; i < Math.min(100, calls / 10); i++) fn();
  const samples: number[] = [];
  for (let i = 0; i < calls; i++) {
    const t = process.hrtime.bigint();
    fn();
    samples.push(Number(process.hrtime.bigint() - t) / 1000);
  }
  samples.sort((a, b) => a - b);
  return {
    meanUs: samples.reduce((a, b) => a + b, 0) / samples.length,
    p50Us: quantile(samples, 0.5),
    p99Us: quantile(samples, 0.99),
  };
}

const json = process.argv.includes('--json');
for (const c of cases) {
  const message = { ...c.body, auth: signer.sign(c.message, c.target, c.body, nowMs) };
  const bytes = JSON.stringify(message).length;
  const calls = bytes > 20_000 ? 200 : 1000;
  const verify = time(() => {
    if (!verifyInternalMessage(signer.anchors, c.message, c.target, message, nowMs).ok) throw new Error('bad bench');
  }, calls);
  const sign = time(() => void signer.sign(c.message, c.target, c.body, nowMs), calls);
  const row = { name: c.name, bytes, verify, sign };
  if (json) console.log(JSON.stringify(row));
  else
    console.log(
      `${c.name.padEnd(32)} ${String(bytes).padStart(7)} B   verify mean ${verify.meanUs.toFixed(0)} µs ` +
        `p50 ${verify.p50Us.toFixed(0)} p99 ${verify.p99Us.toFixed(0)}   sign (node) mean ${sign.meanUs.toFixed(0)} µs`,
    );
}
