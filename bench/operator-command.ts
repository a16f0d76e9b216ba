/**
 * What signed operator commands cost the workflow (docs/DESIGN.md §13): `verifyCommand` as an update validator runs
 * it — canonical JSON of the command, the directory lookup, the nonce check and one Ed25519 verification — on a
 * kill-sized input, in-process with the production code (`@noble/curves`, pure JavaScript as in the sandbox). Also the
 * client's signing, for scale. Run: `npx tsx bench/operator-command.ts [n]`.
 */
import { randomBytes } from 'node:crypto';
import { publicKeyOf, rememberNonce, signCommand, verifyCommand, type NonceBook } from '../domain/operator-command.js';
import { indexDirectory, kidOf } from '../domain/operators.js';

const n = Number(process.argv[2] ?? 2_000);
const privateKey = randomBytes(32).toString('hex');
const signer = { did: 'did:mesh:operator', kid: kidOf(publicKeyOf(privateKey)), privateKey };
const keys = indexDirectory({
  operators: [
    {
      did: signer.did,
      role: 'operator',
      keys: [{ kid: signer.kid, publicKey: publicKeyOf(privateKey), addedAtMs: 0, revokedAtMs: null }],
    },
  ],
});
const target = { kind: 'session' as const, sessionOperators: [signer.did] };
const workflowId = 'session:bench';
const args = (i: number) => ({
  killId: `kill-${i}`,
  agentDid: 'did:mesh:agent-0001',
  reason: 'manual',
  authorizedBy: signer.did,
  details: 'operator kill from the bench',
});

const nowMs = Date.now();
const signStart = process.hrtime.bigint();
const commands = Array.from({ length: n }, (_, i) => ({
  ...args(i),
  auth: signCommand({
    signer,
    cmd: 'requestKill',
    workflowId,
    args: args(i),
    nowMs,
    nonce: `nonce-${i}-0123456789abcdef`,
  }),
}));
const signUs = Number(process.hrtime.bigint() - signStart) / 1e3 / n;

// A nonce book as a busy workflow holds it: a thousand live nonces.
let nonces: NonceBook = {};
for (let i = 0; i < 1_000; i++)
  nonces = rememberNonce(nonces, { nonce: `live-${i}-0123456789ab`, exp: nowMs + 60_000 }, nowMs);

const warm = Math.min(100, Math.floor(n / 10));
const times: number[] = [];
for (const [i, raw] of commands.entries()) {
  const t = process.hrtime.bigint();
  verifyCommand({ cmd: 'requestKill', workflowId, raw, keys, target, nowMs, nonces });
  if (i >= warm) times.push(Number(process.hrtime.bigint() - t) / 1e3);
}
times.sort((a, b) => a - b);
const mean = times.reduce((a, b) => a + b, 0) / times.length;
const at = (q: number) => times[Math.min(times.length - 1, Math.floor(q * times.length))]!;
console.log(
  JSON.stringify(
    {
      commands: times.length,
      verifyUsPerCommand: { mean: +mean.toFixed(1), p50: +at(0.5).toFixed(1), p99: +at(0.99).toFixed(1) },
      signUsPerCommand: +signUs.toFixed(1),
    },
    null,
    2,
  ),
);
