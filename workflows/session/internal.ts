import * as wf from '@temporalio/workflow';
import type { z } from 'zod';
import { afterSagaEvent, noticeOrderProblem, rememberSaga, sagaEventProblem } from '../../domain/internal-binding.js';
import type { KillSwitchNotice } from '../../domain/kill-switch.js';
import type { RecordSagaEventInput } from '../../domain/saga-types.js';
import { parseInput } from '../../domain/validation.js';
import * as msg from '../messages.js';
import type { SignalSpec } from './register.js';
import type { SessionRun } from './run.js';

/*
 * The session's internal signals (docs/DESIGN.md §3.5): kill-switch notices must be signed by a worker and newer than
 * the last one from their identity; saga events must come from a saga this session launched or that registered with a
 * signed `registerSaga`, and name only that saga's steps and agents. A refused one changes nothing and leaves a
 * `<signal>_rejected` entry, as any invalid signal does (register.ts).
 */

function refuse(run: SessionRun, name: string, error: string): void {
  run.trust.reject(name, error);
  run.record([{ kind: `${name}_rejected`, agentDid: null, payload: { error } }]);
}

/** What registerSignal does with a valid signal: sweep, parse, reduce; an invalid one is refused. */
function applySignal<S extends z.ZodType>(run: SessionRun, spec: SignalSpec<S>, raw: unknown): void {
  try {
    run.sweep();
    run.apply(spec.reducer(run.data, parseInput(spec.schema, raw, spec.what), run.ctx()));
  } catch (err) {
    wf.log.warn(`ignored ${spec.what} signal`, { error: (err as Error).message });
    refuse(run, spec.def.name, (err as Error).message);
  }
}

/** The message without the fields only the transport needs (its signature, its notice number). */
function withoutEnvelope(raw: unknown): unknown {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return raw;
  const { auth: _auth, seq: _seq, ...rest } = raw as Record<string, unknown>;
  return rest;
}

/** Registers the session's internal signals: the kill-switch notice, saga events, and saga registrations. */
export function registerInternalSignals(
  run: SessionRun,
  notice: SignalSpec<z.ZodType<KillSwitchNotice>>,
  sagaEvent: SignalSpec<typeof RecordSagaEventInput>,
): void {
  const { trust } = run;
  wf.setHandler(notice.def, (raw) =>
    trust.deliver(true, () => {
      if (!trust.enforced) return applySignal(run, notice, raw);
      const reason = trust.refusal(notice.def.name, raw) ?? noticeOrderProblem(run.noticeSeqs, raw);
      if (reason) return refuse(run, notice.def.name, reason);
      const { agentDid, seq } = raw as { agentDid: string; seq: number };
      run.noticeSeqs[agentDid] = seq;
      applySignal(run, notice, withoutEnvelope(raw));
    }),
  );
  wf.setHandler(sagaEvent.def, (raw) =>
    trust.deliver(false, () => {
      if (!trust.enforced) return applySignal(run, sagaEvent, raw);
      const reason = sagaEventProblem(run.knownSagas, raw);
      if (reason) return refuse(run, sagaEvent.def.name, reason);
      applySignal(run, sagaEvent, raw);
      const { sagaId, kind } = raw as { sagaId: string; kind: Parameters<typeof afterSagaEvent>[2] };
      afterSagaEvent(run.knownSagas, sagaId, kind);
    }),
  );
  wf.setHandler(msg.registerSagaSignal, (raw) =>
    trust.deliver(true, () => {
      const name = msg.registerSagaSignal.name;
      const reason = trust.refusal(name, raw) ?? registrationProblem(raw);
      if (reason) return refuse(run, name, reason);
      rememberSaga(run.knownSagas, raw.sagaId, raw.steps.slice(0, 1_000));
    }),
  );
}

/** A signed registration is the worker's own; this only keeps junk from an old or buggy sender out of the state. */
function registrationProblem(raw: msg.RegisterSagaInput | null | undefined): string | null {
  const ok =
    typeof raw === 'object' &&
    raw !== null &&
    typeof raw.sagaId === 'string' &&
    Array.isArray(raw.steps) &&
    raw.steps.length <= 1_000 &&
    raw.steps.every((s) => typeof s?.stepId === 'string' && typeof s.agentDid === 'string');
  return ok ? null : 'malformed saga registration';
}
