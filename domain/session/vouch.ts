import { ErrorType, hvError } from '../errors.js';
import { checkVouch, fromMicro, toMicro, type Vouch } from '../liability.js';
import type { SessionData, VouchInput } from '../session-types.js';
import { assertState, event, OPEN_STATES, type OpContext, type OpResult, type Parsed } from './context.js';

/**
 * A session-scoped bond: an active participant vouches for another agent (present or yet to join), which raises that
 * agent's eff-score at join by ω × bond. The voucher's σ is what it presented at its own join.
 */
export function vouchFor(data: SessionData, input: Parsed<typeof VouchInput>, ctx: OpContext): OpResult<Vouch> {
  assertState(data, OPEN_STATES, 'vouching');
  const voucher = data.participants[input.voucherDid];
  if (!voucher || voucher.status !== 'active')
    throw hvError(ErrorType.NotParticipant, `voucher ${input.voucherDid} is not an active participant`, {
      agentDid: input.voucherDid,
    });
  if (data.participants[input.voucheeDid]?.status === 'killed')
    throw hvError(ErrorType.AgentKilled, `agent ${input.voucheeDid} was killed in this session`, {
      agentDid: input.voucheeDid,
    });
  const vouches = data.vouches ?? [];
  const voucherSigma = toMicro(voucher.sigmaRaw);
  const { bond } = checkVouch(
    vouches,
    { voucherDid: input.voucherDid, voucheeDid: input.voucheeDid, voucherSigma, bondPct: input.bondPct },
    data.config.liability,
    ctx.nowMs,
  );
  const vouch: Vouch = {
    vouchId: ctx.newId(),
    sessionId: data.sessionId,
    voucherDid: input.voucherDid,
    voucheeDid: input.voucheeDid,
    voucherSigma,
    bond,
    createdAtMs: ctx.nowMs,
    expiresAtMs: input.expiresInSeconds === undefined ? null : ctx.nowMs + input.expiresInSeconds * 1000,
    releasedAtMs: null,
  };
  return {
    data: { ...data, vouches: [...vouches, vouch] },
    result: vouch,
    events: [
      event('vouch', input.voucherDid, {
        vouchId: vouch.vouchId,
        voucheeDid: vouch.voucheeDid,
        bond: fromMicro(bond),
        voucherSigma: voucher.sigmaRaw,
        expiresAtMs: vouch.expiresAtMs,
      }),
    ],
  };
}
