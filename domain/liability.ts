import { z } from 'zod';
import { ErrorType, hvError } from './errors.js';
import { planSaga, requiredSuccesses, type SagaDefinition } from './saga-dsl.js';
import { parseInput } from './validation.js';

/**
 * Joint liability (reference §5, its documented behaviour rather than its stubs): sponsors bond part of their trust
 * score for the agents they vouch for, answer for them when they are slashed, and every agent carries a ledger whose
 * risk profile decides admission. Pure and deterministic: time, scores and the vouch graph come in as arguments.
 */

// ---------------------------------------------------------------------------------------------------------------------
// Fixed point.

/**
 * A score in integer micro-units (1.0 = 1_000_000). Scores are compared against exact limits (0.36 + 0.36 must equal
 * the 0.72 exposure limit) and persisted as numeric(7,6), so they are never binary floats.
 */
export type Micro = number;

/** One whole unit (σ = 1.0) in micro-units. */
export const MICRO_ONE: Micro = 1_000_000;

function invalid(message: string, details: Record<string, unknown> = {}) {
  return hvError(ErrorType.InvalidInput, message, details);
}

/**
 * The micro-unit value of a score in [0, 1], rounded to the nearest micro-unit. The range check is here because every
 * decimal that enters the liability maths (σ, policy fractions, severities) passes through it; `InvalidInput` otherwise.
 */
export function toMicro(x: number, what = 'score'): Micro {
  if (typeof x !== 'number' || !Number.isFinite(x) || x < 0 || x > 1) {
    throw invalid(`${what} must be a number between 0 and 1, got ${String(x)}`, { [what]: x });
  }
  return Math.round(x * MICRO_ONE) + 0; // + 0 turns -0 into 0
}

/** The decimal a micro-unit amount stands for, for display and JSON payloads only: never compute with it. */
export const fromMicro = (m: Micro): number => m / MICRO_ONE;

/**
 * `a × b` in micro-units, rounded half-up. For a, b ≤ 1e6 it is `Math.round(a * b / 1e6)`, exact because the product
 * stays far below 2^53 and the quotient keeps sub-micro precision. A larger factor (a sum of several bonds) is split
 * into whole units and a remainder, so the result is the same correctly rounded value instead of drifting.
 */
export function mulMicro(a: Micro, b: Micro): Micro {
  const [small, large] = a <= b ? [a, b] : [b, a];
  if (large <= MICRO_ONE) return Math.round((small * large) / MICRO_ONE);
  const whole = Math.floor(large / MICRO_ONE);
  return small * whole + Math.round((small * (large - whole * MICRO_ONE)) / MICRO_ONE);
}

/** Shows a micro-unit amount as the decimal users typed (`0.45`, not `450000`). */
const show = (m: Micro): string => String(fromMicro(m));

function assertMicro(value: unknown, what: string, max = MICRO_ONE): asserts value is Micro {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0 || value > max) {
    throw invalid(`${what} must be an integer number of micro-units between 0 and ${max}, got ${String(value)}`, {
      [what]: value,
    });
  }
}

function assertTime(nowMs: unknown): asserts nowMs is number {
  if (typeof nowMs !== 'number' || !Number.isFinite(nowMs)) {
    throw invalid(`nowMs must be a finite number, got ${String(nowMs)}`, { nowMs });
  }
}

function assertDid(value: unknown, what: string): asserts value is string {
  if (typeof value !== 'string' || value.length === 0) {
    throw invalid(`${what} must be a non-empty string, got ${String(value)}`, { [what]: value });
  }
}

/** Code-unit order: locale-independent, so every replica of a workflow sorts the same way. */
const byString = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

// ---------------------------------------------------------------------------------------------------------------------
// Policy.

const fraction = (field: string) =>
  z
    .number({ error: `${field} must be a finite number` })
    .min(0, `${field} must be between 0 and 1`)
    .max(1, `${field} must be between 0 and 1`);

const positiveFraction = (field: string) =>
  z
    .number({ error: `${field} must be a finite number` })
    .gt(0, `${field} must be greater than 0 and at most 1`)
    .max(1, `${field} must be greater than 0 and at most 1`);

/**
 * A session's liability knobs, defaulting to the reference's documented constants (§5.2, §5.3). Numbers only: a policy
 * arrives as JSON, and coercing `"0.5"` would hide a client bug.
 */
export const LiabilityPolicy = z.strictObject({
  /** ω, the risk weight: how much of the bonded σ lifts a vouchee, and how much of a sponsor's σ a slash takes. */
  omega: fraction('omega').default(0.5),
  /** Share of the voucher's σ bonded by a vouch that names none. */
  bondPct: positiveFraction('bondPct').default(0.2),
  /** Share of the voucher's σ that all its active bonds together may reach. */
  maxExposure: positiveFraction('maxExposure').default(0.8),
  minVoucherSigma: fraction('minVoucherSigma').default(0.5),
  /** How many sponsor levels above the culprit a slash reaches (0 = the culprit alone). */
  cascadeDepth: z
    .number({ error: 'cascadeDepth must be a finite number' })
    .int('cascadeDepth must be an integer')
    .min(0, 'cascadeDepth must be between 0 and 5')
    .max(5, 'cascadeDepth must be between 0 and 5')
    .default(2),
  /** A cascaded slash never pushes a sponsor below this σ: sponsors are penalised, not destroyed. */
  sigmaFloor: fraction('sigmaFloor').default(0.05),
});
export type LiabilityPolicy = z.output<typeof LiabilityPolicy>;
/** What a caller may send: every field optional, filled in from the defaults. */
export type LiabilityPolicyInput = z.input<typeof LiabilityPolicy>;

/** The reference's constants, for callers without a session policy. */
export const DEFAULT_LIABILITY_POLICY: Readonly<LiabilityPolicy> = Object.freeze(LiabilityPolicy.parse({}));

/** A policy from untrusted input (defaults filled in), or `InvalidInput` listing every problem. */
export const parseLiabilityPolicy = (input: unknown): LiabilityPolicy =>
  parseInput(LiabilityPolicy, input ?? {}, 'liability policy');

// ---------------------------------------------------------------------------------------------------------------------
// Vouching.

/**
 * A bond `voucherDid` posted for `voucheeDid` in a session. `voucherSigma` is the voucher's σ when it vouched, kept so
 * a slash can still charge a sponsor whose current σ is unknown. Plain JSON, as stored and sent between workflows.
 */
export interface Vouch {
  vouchId: string;
  sessionId: string;
  voucherDid: string;
  voucheeDid: string;
  voucherSigma: Micro;
  bond: Micro;
  createdAtMs: number;
  expiresAtMs: number | null;
  releasedAtMs: number | null;
}

/** A proposed vouch; the bond is derived from it, never chosen by the caller, so it always respects the policy. */
export interface VouchRequest {
  voucherDid: string;
  voucheeDid: string;
  /** The voucher's current σ. */
  voucherSigma: Micro;
  /** Share of `voucherSigma` to bond; the policy's `bondPct` when absent. */
  bondPct?: number;
}

/** Why a vouch was refused: the `reason` detail of its `VouchRejected` failure. */
export type VouchRejection = 'self' | 'below_minimum' | 'bad_bond_pct' | 'cycle' | 'max_exposure';

/**
 * Whether a bond still counts at `nowMs`. Expiry is exclusive (a bond expiring at t no longer counts at t), so a
 * bond never backs two decisions across its own expiry instant.
 */
export const isActive = (v: Vouch, nowMs: number): boolean =>
  v.releasedAtMs === null && (v.expiresAtMs === null || nowMs < v.expiresAtMs);

/** The vouches that count at `nowMs`, checked: a corrupt bond must not silently inflate or deflate a score. */
function activeVouches(vouches: readonly Vouch[], nowMs: number): Vouch[] {
  assertTime(nowMs);
  return vouches.filter((v) => {
    if (!isActive(v, nowMs)) return false;
    assertMicro(v.bond, 'bond');
    assertMicro(v.voucherSigma, 'voucherSigma');
    return true;
  });
}

/** How much of its σ `voucherDid` has bonded at `nowMs`: what the exposure limit is measured against. */
export function exposureOf(vouches: readonly Vouch[], voucherDid: string, nowMs: number): Micro {
  return activeVouches(vouches, nowMs)
    .filter((v) => v.voucherDid === voucherDid)
    .reduce((sum, v) => sum + v.bond, 0);
}

/** A path voucher → … → voucher through active vouches that the new edge would close, or undefined. */
function cyclePath(active: readonly Vouch[], voucherDid: string, voucheeDid: string): string[] | undefined {
  const next = new Map<string, string[]>();
  for (const v of active) next.set(v.voucherDid, [...(next.get(v.voucherDid) ?? []), v.voucheeDid]);
  const parent = new Map<string, string | null>([[voucheeDid, null]]);
  const stack = [voucheeDid];
  while (stack.length > 0) {
    const node = stack.pop()!;
    if (node === voucherDid) {
      const path: string[] = [];
      for (let at: string | null = node; at !== null; at = parent.get(at) ?? null) path.unshift(at);
      return [voucherDid, ...path];
    }
    // Reverse-sorted pushes visit the smallest did first, so the reported path is deterministic.
    for (const target of [...new Set(next.get(node) ?? [])].sort(byString).reverse()) {
      if (!parent.has(target)) {
        parent.set(target, node);
        stack.push(target);
      }
    }
  }
  return undefined;
}

/**
 * Admission of a new vouch against the existing ones, returning the bond to record. Each rule protects the graph:
 * no self-dealing, only trusted sponsors, no circular vouching that lets a group lift itself, and no sponsor bonding
 * more than its exposure limit. Throws `VouchRejected` with a `reason` detail (checked in that order), or
 * `InvalidInput` for malformed arguments. Exposure details (`current`, `bond`, `limit`) are micro-units.
 */
export function checkVouch(
  vouches: readonly Vouch[],
  request: VouchRequest,
  policy: LiabilityPolicy,
  nowMs: number,
): { bond: Micro } {
  const { voucherDid, voucheeDid, voucherSigma, bondPct } = request;
  assertDid(voucherDid, 'voucherDid');
  assertDid(voucheeDid, 'voucheeDid');
  assertMicro(voucherSigma, 'voucherSigma');
  const active = activeVouches(vouches, nowMs);
  const reject = (reason: VouchRejection, message: string, details: Record<string, unknown> = {}) =>
    hvError(ErrorType.VouchRejected, message, { reason, voucherDid, voucheeDid, ...details });

  if (voucherDid === voucheeDid) throw reject('self', `Cannot sponsor yourself: ${voucherDid}`);
  const minimum = toMicro(policy.minVoucherSigma, 'minVoucherSigma');
  if (voucherSigma < minimum) {
    throw reject('below_minimum', `Voucher σ ${show(voucherSigma)} is below minimum ${show(minimum)}`, {
      voucherSigma,
      minimum,
    });
  }
  const pct = bondPct ?? policy.bondPct;
  // A share that rounds to zero micro-units would record a bond that backs nothing.
  if (typeof pct !== 'number' || !Number.isFinite(pct) || pct <= 0 || pct > 1 || Math.round(pct * MICRO_ONE) === 0) {
    throw reject('bad_bond_pct', `Bond percentage must be greater than 0 and at most 1, got ${String(pct)}`, {
      bondPct: pct,
    });
  }
  const cycle = cyclePath(active, voucherDid, voucheeDid);
  if (cycle) throw reject('cycle', `Circular vouching: ${cycle.join(' -> ')}`, { cycle });

  const bond = mulMicro(toMicro(pct, 'bondPct'), voucherSigma);
  const current = active.filter((v) => v.voucherDid === voucherDid).reduce((sum, v) => sum + v.bond, 0);
  const limit = mulMicro(toMicro(policy.maxExposure, 'maxExposure'), voucherSigma);
  if (current + bond > limit) {
    throw reject(
      'max_exposure',
      `Bond ${show(bond)} would exceed max exposure: ${show(current)} already bonded, limit ${show(limit)}`,
      { current, bond, limit },
    );
  }
  return { bond };
}

/**
 * A vouchee's effective score: its own σ lifted by ω × the σ its sponsors have bonded for it, capped at 1. This is
 * what makes sponsorship worth having, and why the bonds are at risk when the vouchee misbehaves.
 */
export function effScore(
  ownSigma: Micro,
  vouches: readonly Vouch[],
  voucheeDid: string,
  policy: LiabilityPolicy,
  nowMs: number,
): Micro {
  assertMicro(ownSigma, 'ownSigma');
  const bonded = activeVouches(vouches, nowMs)
    .filter((v) => v.voucheeDid === voucheeDid)
    .reduce((sum, v) => sum + v.bond, 0);
  return Math.min(MICRO_ONE, ownSigma + mulMicro(toMicro(policy.omega, 'omega'), bonded));
}

// ---------------------------------------------------------------------------------------------------------------------
// Slashing.

/** One σ a slash changed: the row behind a `slash_received` / `slash_cascaded` ledger entry and the standing update. */
export interface SlashChange {
  agentDid: string;
  before: Micro;
  after: Micro;
  /** 0 for the culprit, 1 for its sponsors, 2 for theirs… */
  depth: number;
  kind: 'slash_received' | 'slash_cascaded';
  /** The agent one level down whose slash reached this one; null for the culprit. */
  via: string | null;
}

/** Everything a slash reads, passed in so the same cascade replays identically inside a workflow. */
export interface SlashInput {
  culpritDid: string;
  /** Current σ of the agents known to the caller; others fall back to the σ recorded on their own vouch. */
  sigmas: Readonly<Record<string, Micro>>;
  vouches: readonly Vouch[];
  policy: LiabilityPolicy;
  nowMs: number;
}

/**
 * The σ changes of a slash: the culprit drops to 0 and its active sponsors, up to `cascadeDepth` levels up the vouch
 * graph, lose the share ω of their σ (never below `sigmaFloor`, and never raised to it). Joint liability only deters if
 * sponsors feel it; the floor and depth limit keep one bad agent from wiping out a whole trust network. Each agent is
 * changed once, at its shallowest depth, so cycles and diamonds cannot double-charge. Ordered by depth, then did.
 */
export function slashCascade(input: SlashInput): { changes: SlashChange[] } {
  const { culpritDid, sigmas, policy } = input;
  assertDid(culpritDid, 'culpritDid');
  const active = activeVouches(input.vouches, input.nowMs);
  const keep = MICRO_ONE - toMicro(policy.omega, 'omega');
  const floor = toMicro(policy.sigmaFloor, 'sigmaFloor');

  const sigmaOf = (did: string): Micro | undefined => {
    if (Object.prototype.hasOwnProperty.call(sigmas, did)) {
      const sigma = sigmas[did];
      assertMicro(sigma, `sigma of ${did}`);
      return sigma;
    }
    // The most recent bond the agent posted carries the freshest σ known for it.
    const own = active
      .filter((v) => v.voucherDid === did)
      .sort((a, b) => b.createdAtMs - a.createdAtMs || byString(a.vouchId, b.vouchId))[0];
    return own?.voucherSigma;
  };

  const culpritSigma = sigmaOf(culpritDid);
  if (culpritSigma === undefined) {
    throw invalid(`no σ known for culprit ${culpritDid}: pass it in sigmas`, { culpritDid });
  }
  const changes: SlashChange[] = [
    { agentDid: culpritDid, before: culpritSigma, after: 0, depth: 0, kind: 'slash_received', via: null },
  ];
  const seen = new Set([culpritDid]);
  let level = [culpritDid];
  for (let depth = 1; depth <= policy.cascadeDepth && level.length > 0; depth++) {
    const viaOf = new Map<string, string>();
    for (const vouchee of level) {
      for (const v of active) {
        if (v.voucheeDid !== vouchee || seen.has(v.voucherDid)) continue;
        const via = viaOf.get(v.voucherDid);
        if (via === undefined || byString(vouchee, via) < 0) viaOf.set(v.voucherDid, vouchee);
      }
    }
    level = [...viaOf.keys()].sort(byString);
    for (const agentDid of level) {
      seen.add(agentDid);
      // Defined: the agent has an active vouch, whose voucherSigma is the fallback.
      const before = sigmaOf(agentDid)!;
      const after = Math.min(before, Math.max(floor, mulMicro(before, keep)));
      changes.push({ agentDid, before, after, depth, kind: 'slash_cascaded', via: viaOf.get(agentDid)! });
    }
  }
  return { changes };
}

/** A direct slash blacklists the culprit for good; a cascaded one only lowers the sponsor's σ. */
export const blacklists = (change: SlashChange): boolean => change.kind === 'slash_received';

// ---------------------------------------------------------------------------------------------------------------------
// Shapley values.

export interface ShapleyOptions {
  /** Exact enumeration (2^n coalitions) up to this many players; sampling above. At most 20. */
  exactUpTo?: number;
  /** Permutations drawn when sampling. */
  samples?: number;
  /** Seed of the sampling PRNG: the same seed gives the same values, on every replay. */
  seed?: number;
}

const ShapleyOptionsSchema = z.strictObject({
  exactUpTo: z.number().int().min(0).max(20).default(12),
  samples: z.number().int().min(1).max(1_000_000).default(2000),
  seed: z.number().int().default(1),
});

/** mulberry32: a tiny seeded PRNG, so sampled attributions replay identically inside a workflow. */
function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

/**
 * Each player's Shapley value of the cooperative game `value`: its average marginal contribution over all orders in
 * which the coalition could form. It is the only split that is efficient, symmetric, additive and gives null players
 * nothing, which is what makes a fault attribution defensible. Exact up to `exactUpTo` players, else estimated from
 * `samples` seeded permutations; either way the values are corrected to sum to v(N) − v(∅) without moving null
 * players off 0. Players are sorted first, so the result does not depend on their order.
 */
export function shapleyValues(
  players: readonly string[],
  value: (coalition: ReadonlySet<string>) => number,
  options: ShapleyOptions = {},
): Record<string, number> {
  const { exactUpTo, samples, seed } = parseInput(ShapleyOptionsSchema, options, 'Shapley options');
  for (const player of players) assertDid(player, 'player');
  const sorted = [...players].sort(byString);
  if (new Set(sorted).size !== sorted.length) throw invalid('players must be distinct', { players: sorted });
  const n = sorted.length;
  const evaluate = (coalition: ReadonlySet<string>): number => {
    const v = value(coalition);
    if (typeof v !== 'number' || !Number.isFinite(v)) {
      throw invalid(`the value of coalition {${[...coalition].join(', ')}} must be a finite number, got ${String(v)}`);
    }
    return v;
  };

  const phi = new Array<number>(n).fill(0);
  let empty: number;
  let grand: number;
  if (n <= exactUpTo) {
    const size = 2 ** n;
    const values = Array.from({ length: size }, (_, mask) =>
      evaluate(new Set(sorted.filter((_, i) => mask & (1 << i)))),
    );
    empty = values[0]!;
    grand = values[size - 1]!;
    // |S|!(n−|S|−1)!/n! = 1 / (n × C(n−1, |S|)), built up without factorials that overflow.
    const weights: number[] = [];
    for (let s = 0, choose = 1; s < n; s++, choose = (choose * (n - s)) / s) weights.push(1 / (n * choose));
    const popcount = (mask: number): number => {
      let count = 0;
      for (let m = mask; m; m &= m - 1) count++;
      return count;
    };
    for (let i = 0; i < n; i++) {
      const bit = 1 << i;
      let sum = 0;
      for (let mask = 0; mask < size; mask++) {
        if (mask & bit) continue;
        sum += weights[popcount(mask)]! * (values[mask | bit]! - values[mask]!);
      }
      phi[i] = sum;
    }
  } else {
    const rand = mulberry32(seed);
    const order = sorted.map((_, i) => i);
    empty = evaluate(new Set());
    grand = evaluate(new Set(sorted));
    for (let k = 0; k < samples; k++) {
      for (let i = n - 1; i > 0; i--) {
        const j = Math.floor(rand() * (i + 1));
        [order[i], order[j]] = [order[j]!, order[i]!];
      }
      const coalition = new Set<string>();
      let previous = empty;
      for (const i of order) {
        coalition.add(sorted[i]!);
        // A copy: the value function may keep the set it was given.
        const current = evaluate(new Set(coalition));
        phi[i] = phi[i]! + current - previous;
        previous = current;
      }
    }
    for (let i = 0; i < n; i++) phi[i] = phi[i]! / samples;
  }

  // Float rounding leaves a tiny residual; spread it in proportion to |φ| so null players stay exactly 0.
  const residual = grand - empty - phi.reduce((a, b) => a + b, 0);
  const magnitude = phi.reduce((a, b) => a + Math.abs(b), 0);
  if (residual !== 0 && n > 0) {
    for (let i = 0; i < n; i++) {
      phi[i] = phi[i]! + (magnitude > 0 ? (residual * Math.abs(phi[i]!)) / magnitude : residual / n);
    }
  }
  return Object.fromEntries(sorted.map((player, i) => [player, phi[i]!]));
}

// ---------------------------------------------------------------------------------------------------------------------
// Saga fault attribution.

/** How one step of the saga ended, as the saga workflow reports it. */
export interface SagaStepOutcome {
  stepId: string;
  /** The agent that actually ran the step (a substitute may differ from the definition's). */
  agentDid: string;
  state: string;
}

/** Who is to blame for a saga outcome, and how much: the input of slashing and of `fault_attributed` entries. */
export interface SagaFaultAttribution {
  /** Each agent's Shapley share of `value`; agents without a fault get 0. */
  agents: Record<string, number>;
  /** Severity of what happened: 0 completed, 1 rolled back, 2 escalated (a compensation failed too). */
  value: number;
  /** The agent with the largest share (ties: smallest did), or null when nothing went wrong. */
  rootCause: string | null;
}

/**
 * Splits the blame for a saga outcome among its agents with Shapley values. Counterfactual: v(S) is how bad the saga
 * would have ended had only the faults of the agents in S happened, replayed over the saga's plan (a fan-out fails only
 * when more branches fail than its policy tolerates; the first failing stage rolls back, severity 1; a compensation
 * fault on an already committed step escalates, +1). So an agent whose failed branch was tolerated, or whose broken
 * undo was never needed, carries nothing, and agents whose faults only hurt together share equally.
 */
export function attributeSagaFault(input: {
  definition: SagaDefinition;
  steps: readonly SagaStepOutcome[];
}): SagaFaultAttribution {
  const { definition } = input;
  const { stages } = planSaga(definition);
  const owner = new Map(definition.steps.map((step) => [step.id, step.agent]));
  const executionFault = new Set<string>();
  const compensationFault = new Set<string>();
  const seenSteps = new Set<string>();
  for (const step of input.steps) {
    if (!owner.has(step.stepId)) throw invalid(`unknown saga step "${step.stepId}"`, { stepId: step.stepId });
    if (seenSteps.has(step.stepId))
      throw invalid(`saga step "${step.stepId}" is listed twice`, { stepId: step.stepId });
    seenSteps.add(step.stepId);
    assertDid(step.agentDid, 'agentDid');
    owner.set(step.stepId, step.agentDid);
    if (step.state === 'failed') executionFault.add(step.stepId);
    if (step.state === 'compensation_failed') compensationFault.add(step.stepId);
  }
  const agentOf = (stepId: string): string => owner.get(stepId)!;
  const players = [...new Set([...definition.steps.map((step) => step.agent), ...owner.values()])].sort(byString);
  const faulty = [...new Set([...executionFault, ...compensationFault].map(agentOf))].sort(byString);

  const severity = (coalition: ReadonlySet<string>): number => {
    const fails = (stepId: string) => executionFault.has(stepId) && coalition.has(agentOf(stepId));
    const committed: string[] = [];
    for (const stage of stages) {
      const stepIds = stage.kind === 'step' ? [stage.stepId] : stage.stepIds;
      const failed = stepIds.filter(fails).length;
      const tolerated = stage.kind === 'step' ? 0 : stepIds.length - requiredSuccesses(stage.policy, stepIds.length);
      // Branches that succeeded are committed either way: with the stage failing they must be compensated too.
      committed.push(...stepIds.filter((stepId) => !fails(stepId)));
      if (failed > tolerated) {
        const escalated = committed.some((stepId) => compensationFault.has(stepId) && coalition.has(agentOf(stepId)));
        return escalated ? 2 : 1;
      }
    }
    return 0;
  };

  // Agents without any fault are null players: leaving them out changes nobody's share and keeps the game small.
  const shares = shapleyValues(faulty, severity);
  const value = severity(new Set(faulty));
  const agents = Object.fromEntries(players.map((did) => [did, shares[did] ?? 0]));
  let rootCause: string | null = null;
  if (value !== 0) {
    for (const did of players) if (rootCause === null || agents[did]! > agents[rootCause]!) rootCause = did;
  }
  return { agents, value, rootCause };
}

// ---------------------------------------------------------------------------------------------------------------------
// Ledger and standing.

/** Every kind of ledger entry (reference §5.6), as stored in `liability_ledger.entry_type`. */
export const LEDGER_ENTRY_TYPES = [
  'vouch_given',
  'vouch_received',
  'vouch_released',
  'slash_received',
  'slash_cascaded',
  'quarantine_entered',
  'quarantine_released',
  'fault_attributed',
  'clean_session',
] as const;
export type LedgerEntryType = (typeof LEDGER_ENTRY_TYPES)[number];

/** Default severities of the entries that count against an agent; only these raise its risk. */
export const LEDGER_SEVERITY = {
  slash_received: 0.6,
  slash_cascaded: 0.4,
  quarantine_entered: 0.5,
  fault_attributed: 0.5,
} as const;

/** The severity an entry of this type is recorded with when nothing scales it: 0 for entries that do not count. */
export const ledgerSeverity = (entryType: LedgerEntryType): number =>
  (LEDGER_SEVERITY as Partial<Record<LedgerEntryType, number>>)[entryType] ?? 0;

/**
 * The `fault_attributed` entries of a saga's attribution: one per agent with a share, its severity the stated one
 * scaled by the agent's part of the fault.
 */
export function faultSeverities(
  attribution: SagaFaultAttribution,
): Array<{ agentDid: string; share: number; severity: number }> {
  return Object.entries(attribution.agents)
    .filter(([, share]) => share > 0)
    .map(([agentDid, share]) => ({
      agentDid,
      share,
      severity: LEDGER_SEVERITY.fault_attributed * (attribution.value > 0 ? share / attribution.value : 0),
    }));
}

/** Risk at or above which an agent is admitted only on probation (ring 3), or refused. */
export const RISK_THRESHOLDS = { probation: 0.3, deny: 0.6 } as const;

/** What one clean session takes off the raw risk: good behaviour slowly earns standing back. */
const CLEAN_SESSION_CREDIT: Micro = 100_000;

/** An agent's standing: the counts behind it for display, the score, and the admission decision. */
export interface RiskProfile {
  /** Slashes received directly or through a cascade. */
  slashCount: number;
  quarantineCount: number;
  cleanSessionCount: number;
  faultCount: number;
  raw: number;
  riskScore: number;
  recommendation: 'admit' | 'probation' | 'deny';
}

const negativeTypes = new Set<string>(Object.keys(LEDGER_SEVERITY));
const entryTypes = new Set<string>(LEDGER_ENTRY_TYPES);

/**
 * An agent's standing from its ledger, deciding admission to new sessions. Risk saturates (1 − e^(−raw/2)) so a long
 * history cannot overflow the thresholds, and clean sessions earn credit without ever making a record better than
 * blank. Severities are summed in micro-units (each in [0, 1]), so equal histories give bit-equal scores. A
 * blacklisted agent is denied whatever its ledger says.
 */
export function riskProfile(
  entries: ReadonlyArray<{ entryType: LedgerEntryType; severity: number }>,
  options: { blacklisted?: boolean } = {},
): RiskProfile {
  let negative: Micro = 0;
  const count = (type: LedgerEntryType) => entries.filter((entry) => entry.entryType === type).length;
  for (const { entryType, severity } of entries) {
    if (!entryTypes.has(entryType)) throw invalid(`unknown ledger entry type ${String(entryType)}`, { entryType });
    const weight = toMicro(severity, 'severity');
    if (negativeTypes.has(entryType)) negative += weight;
  }
  const cleanSessionCount = count('clean_session');
  const rawMicro = Math.max(0, negative - CLEAN_SESSION_CREDIT * cleanSessionCount);
  const raw = fromMicro(rawMicro);
  const riskScore = 1 - Math.exp(-raw / 2);
  const recommendation =
    options.blacklisted === true || riskScore >= RISK_THRESHOLDS.deny
      ? 'deny'
      : riskScore >= RISK_THRESHOLDS.probation
        ? 'probation'
        : 'admit';
  return {
    slashCount: count('slash_received') + count('slash_cascaded'),
    quarantineCount: count('quarantine_entered'),
    cleanSessionCount,
    faultCount: count('fault_attributed'),
    raw,
    riskScore,
    recommendation,
  };
}
