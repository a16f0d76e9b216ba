import type { SignalDefinition, UpdateDefinition } from '@temporalio/common';
import * as wf from '@temporalio/workflow';
import type { z } from 'zod';
import type { OpContext, OpResult } from '../../domain/session/index.js';
import * as model from '../../domain/session/index.js';
import type { SessionData } from '../../domain/session-types.js';
import { splitAuth, withActor, type CommandSigner } from '../../domain/operator-command.js';
import { parseInput } from '../../domain/validation.js';
import { withoutAuth } from '../operator-keys.js';
import { rejectionText } from '../rejections.js';
import { guard } from './errors.js';
import type { SessionRun } from './run.js';

/**
 * Whether an update waits for the audit store. `gated`: refused (before it reaches history) while the outbox is full
 * or frozen, because its entries could not be persisted. `open`: accepted anyway — reads record nothing, and the
 * controls that contain an agent (kill, quarantine) or end the session (terminate) must work even when the database
 * is down; their entries wait in the outbox like any other.
 */
export type AuditGate = 'gated' | 'open';

/**
 * A control command (docs/DESIGN.md §13): accepted only signed by a session operator or a namespace admin, whose DID
 * becomes the input's `actor` field (a different DID there is refused).
 */
export interface ControlSpec {
  /** The input field naming who acts: `authorizedBy`, or `approverDid` / `approvedBy` for approvals. */
  actor: string;
  /**
   * For inputs that are control commands only sometimes (an approval is one when it names an operator; an agent's
   * own approval is not): whether an unsigned input must be signed. Absent: always.
   */
  requiredFor?: (data: SessionData, args: Record<string, unknown>) => boolean;
}

/** One update of the session: how its input is parsed, whether it waits for the audit store, and what it does. */
export interface UpdateSpec<S extends z.ZodType, R, P = undefined> {
  def: UpdateDefinition<R, [z.input<S>]>;
  schema: S;
  /** Names the input in error messages ("invalid <what>: …"). */
  what: string;
  gate: AuditGate;
  control?: ControlSpec;
  /** The verdict without the effect, run by the validator on the state the handler will see. */
  dryRun: (data: SessionData, input: z.output<S>, ctx: OpContext) => unknown;
  /** Reads the handler needs from outside the session (through an activity) before the state is touched. */
  prepare?: (input: z.output<S>) => Promise<P>;
  /** The effect, after the session's expiries are swept (see {@link reducerUpdate} for the common case). */
  handle: (input: z.output<S>, prepared: P) => R | Promise<R>;
}

/** One signal of the session: signals cannot be rejected, so invalid ones are recorded as rejected and dropped. */
export interface SignalSpec<S extends z.ZodType> {
  def: SignalDefinition<[z.input<S>]>;
  schema: S;
  what: string;
  control?: ControlSpec;
  reducer: (data: SessionData, input: z.output<S>, ctx: OpContext) => model.Change;
}

/** A parsed input and, for a signed control command, who signed it. */
interface Authorized<S extends z.ZodType> {
  input: z.output<S>;
  signer: CommandSigner | null;
}

/**
 * Parses an input; for a control command, verifies its signature first (`OperatorKeys.verify`) and parses the signed
 * arguments with the signer as the actor. Throws `PermissionDenied` for a refused command, `InvalidInput` for a bad one.
 */
function parseCommand<S extends z.ZodType>(
  run: SessionRun,
  spec: { def: { name: string }; schema: S; what: string; control?: ControlSpec },
  raw: unknown,
): Authorized<S> {
  const { control } = spec;
  if (!control) return { input: parseInput(spec.schema, raw, spec.what), signer: null };
  if (!run.operators.enforced) return { input: parseInput(spec.schema, withoutAuth(raw), spec.what), signer: null };
  const { auth, args } = splitAuth(raw);
  if (auth === undefined && control.requiredFor && !control.requiredFor(run.data, args))
    return { input: parseInput(spec.schema, raw, spec.what), signer: null };
  const target = { kind: 'session' as const, sessionOperators: model.sessionOperators(run.data) };
  const { signer, args: signed } = run.operators.verify(spec.def.name, raw, target);
  return { input: parseInput(spec.schema, withActor(signed, control.actor, signer), spec.what), signer };
}

type Reducer<S extends z.ZodType, R> = (data: SessionData, input: z.output<S>, ctx: OpContext) => OpResult<R>;

/** The common update: the validator dry-runs the reducer; the handler applies it and answers with its result. */
export function reducerUpdate<S extends z.ZodType, R>(
  run: SessionRun,
  def: UpdateDefinition<R, [z.input<S>]>,
  schema: S,
  what: string,
  gate: AuditGate,
  reducer: Reducer<S, R>,
): UpdateSpec<S, R> {
  return {
    def,
    schema,
    what,
    gate,
    dryRun: reducer,
    handle: (input: z.output<S>) => {
      const out = guard(() => reducer(run.data, input, run.ctx()));
      run.apply(out);
      return out.result;
    },
  };
}

/**
 * Runs `fn` once the creator is admitted (at once when it is). A refused admission fails an update with the refusal;
 * `onRefused` decides what a signal does instead (it drops it: a signal cannot fail).
 */
function afterAdmission<T>(run: SessionRun, fn: () => T | Promise<T>, onRefused?: () => T): T | Promise<T> {
  if (run.admission === 'admitted') return fn();
  return wf
    .condition(() => run.admission !== 'pending')
    .then(() => {
      if (run.admission === 'admitted') return fn();
      if (onRefused) return onRefused();
      throw run.refusal!;
    });
}

/**
 * Registers an update. The validator parses the input, checks the audit gate and dry-runs the operation on the swept
 * state, so a request that would fail is rejected before it is written to history, and the handler that follows (same
 * state, same activation) cannot fail differently.
 */
export function registerUpdate<S extends z.ZodType, R, P>(run: SessionRun, spec: UpdateSpec<S, R, P>): void {
  const { prepare } = spec;
  // The validator's parse is kept for the handler that follows in the same activation (the SDK hands both the same
  // argument): the input is parsed once. On replay the validator does not run and the handler parses itself.
  const validated = new WeakMap<object, Authorized<S>>();
  const parsed = (raw: unknown): Authorized<S> => {
    const authorized = (typeof raw === 'object' && raw !== null && validated.get(raw)) || parseCommand(run, spec, raw);
    // The nonce is remembered here, not in the validator (which must not change state and does not run on replay).
    if (authorized.signer) run.operators.accept(authorized.signer);
    return authorized;
  };
  // An update id the previous run already answered (the client retried across continue-as-new) gets that answer again:
  // nothing is applied twice. Within a run, Temporal itself deduplicates update ids.
  const repeated = (): { result: unknown } | undefined => run.replies.answered(wf.currentUpdateInfo()?.id);
  const answer = (result: R): R => {
    run.replies.remember(wf.currentUpdateInfo()?.id, result);
    return result;
  };
  wf.setHandler(
    spec.def,
    prepare
      ? (raw) =>
          afterAdmission(run, async () => {
            const again = repeated();
            if (again) return again.result as R;
            const { input } = parsed(raw);
            const prepared = await prepare(input);
            run.sweep();
            return answer(await spec.handle(input, prepared));
          })
      : (raw) =>
          afterAdmission(run, () => {
            const again = repeated();
            if (again) return again.result as R;
            const { input, signer } = parsed(raw);
            run.sweep();
            // The signer goes into the entries the command records before its first await (see SessionRun.record).
            run.signedBy = signer;
            let out: R | Promise<R>;
            try {
              out = spec.handle(input, undefined as P);
            } finally {
              run.signedBy = null;
            }
            return out instanceof Promise ? out.then(answer) : answer(out);
          }),
    {
      validator: (raw) => {
        if (repeated()) return;
        if (spec.gate === 'gated') run.audit.assertAvailable();
        const authorized = parseCommand(run, spec, raw);
        void spec.dryRun(model.expireTimers(run.data, Date.now()).data, authorized.input, run.dryCtx());
        if (typeof raw === 'object' && raw !== null) validated.set(raw as object, authorized);
      },
    },
  );
}

/** Registers a signal: valid ones are applied like their update variant, invalid ones leave a `_rejected` entry. */
export function registerSignal<S extends z.ZodType>(run: SessionRun, spec: SignalSpec<S>): void {
  const handle = (raw: unknown, retry: boolean): void => {
    try {
      run.sweep();
      const { input, signer } = parseCommand(run, spec, raw);
      if (signer) run.operators.accept(signer);
      run.signedBy = signer;
      run.apply(spec.reducer(run.data, input, run.ctx()));
    } catch (err) {
      if (retry && run.operators.retryAfterRefresh(err, () => handle(raw, false))) return;
      // Bounded: the error of a huge input must not make a huge entry.
      const error = rejectionText(err);
      wf.log.warn(`ignored ${spec.what} signal`, { error });
      run.signedBy = null;
      run.record([{ kind: `${spec.def.name}_rejected`, agentDid: null, payload: { error } }]);
    } finally {
      run.signedBy = null;
    }
  };
  // A signal to a session whose creator was refused is dropped: there is no session to record it in.
  wf.setHandler(spec.def, (raw) =>
    afterAdmission(
      run,
      () => (spec.control ? run.operators.whenLoaded(() => handle(raw, true)) : handle(raw, false)),
      () => undefined,
    ),
  );
}
