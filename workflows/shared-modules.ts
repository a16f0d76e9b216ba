/**
 * The modules every workflow of this worker shares (docs/DESIGN.md §2.2): the whole of `domain/` (and through it zod
 * and @noble/hashes), evaluated once per worker in the reusable V8 context instead of once per cached workflow. The
 * bundler preloads this module (`worker/bundle.ts`) before any workflow exists; the SDK then deep-freezes what it
 * reached, so nothing here may hold per-workflow state — `domain/` is pure and has no module-level mutable state.
 *
 * zod materialises some members on first read (bound methods, derived internals) by defining them on the schema; on a
 * frozen schema that throws. {@link materializeLazyMembers} reads them all once here, before the freeze.
 */
import { z } from 'zod';
import * as actions from '../domain/actions.js';
import * as auditChain from '../domain/audit-chain.js';
import * as auditPack from '../domain/audit-pack.js';
import * as auditRebase from '../domain/audit-rebase.js';
import * as auditVerify from '../domain/audit-verify.js';
import * as breachDetector from '../domain/breach-detector.js';
import * as elevation from '../domain/elevation.js';
import * as enumValues from '../domain/enum-values.js';
import * as errors from '../domain/errors.js';
import * as identifiers from '../domain/identifiers.js';
import * as intentLocks from '../domain/intent-locks.js';
import * as internalBinding from '../domain/internal-binding.js';
import * as internalSignature from '../domain/internal-signature.js';
import * as killSwitch from '../domain/kill-switch.js';
import * as liability from '../domain/liability.js';
import * as limits from '../domain/limits.js';
import * as metrics from '../domain/metrics.js';
import * as operatorCommand from '../domain/operator-command.js';
import * as operatorRegistry from '../domain/operator-registry.js';
import * as operators from '../domain/operators.js';
import * as retention from '../domain/retention.js';
import * as rings from '../domain/rings.js';
import * as sagaDsl from '../domain/saga-dsl.js';
import * as sagaRun from '../domain/saga-run.js';
import * as sagaTypes from '../domain/saga-types.js';
import * as searchAttributes from '../domain/search-attributes.js';
import * as sessionConfig from '../domain/session-config.js';
import * as sessionTypes from '../domain/session-types.js';
import * as sessionAuthorize from '../domain/session/authorize.js';
import * as sessionCarry from '../domain/session/carry.js';
import * as sessionContext from '../domain/session/context.js';
import * as sessionControl from '../domain/session/control.js';
import * as sessionElevation from '../domain/session/elevation.js';
import * as sessionIndex from '../domain/session/index.js';
import * as sessionKillSwitch from '../domain/session/kill-switch.js';
import * as sessionLifecycle from '../domain/session/lifecycle.js';
import * as sessionLocks from '../domain/session/locks.js';
import * as sessionMembership from '../domain/session/membership.js';
import * as sessionParticipants from '../domain/session/participants.js';
import * as sessionPolicy from '../domain/session/policy.js';
import * as sessionSagas from '../domain/session/sagas.js';
import * as sessionSharedState from '../domain/session/shared-state.js';
import * as sessionTimers from '../domain/session/timers.js';
import * as sessionView from '../domain/session/view.js';
import * as sessionVouch from '../domain/session/vouch.js';
import * as sha256 from '../domain/sha256.js';
import * as standing from '../domain/standing.js';
import * as tokenBucket from '../domain/token-bucket.js';
import * as validation from '../domain/validation.js';
import * as vectorClock from '../domain/vector-clock.js';
import * as vfs from '../domain/vfs.js';

const sharedModules: readonly object[] = [
  actions,
  auditChain,
  auditPack,
  auditRebase,
  auditVerify,
  breachDetector,
  elevation,
  enumValues,
  errors,
  identifiers,
  intentLocks,
  internalBinding,
  internalSignature,
  killSwitch,
  liability,
  limits,
  metrics,
  operatorCommand,
  operatorRegistry,
  operators,
  retention,
  rings,
  sagaDsl,
  sagaRun,
  sagaTypes,
  searchAttributes,
  sessionConfig,
  sessionTypes,
  sessionAuthorize,
  sessionCarry,
  sessionContext,
  sessionControl,
  sessionElevation,
  sessionIndex,
  sessionKillSwitch,
  sessionLifecycle,
  sessionLocks,
  sessionMembership,
  sessionParticipants,
  sessionPolicy,
  sessionSagas,
  sessionSharedState,
  sessionTimers,
  sessionView,
  sessionVouch,
  sha256,
  standing,
  tokenBucket,
  validation,
  vectorClock,
  vfs,
];

/**
 * Brings every object reachable from `roots` to the state the freeze will fix: each getter read (own and inherited,
 * zod defines bound methods and derived internals on first read) and each zod schema parsed once (zod rewrites a
 * schema's parse function at its first parse). Repeats until nothing new appears. Functions are not entered, as the
 * SDK's freeze does not enter them either: reading a prototype's getters with the prototype as receiver would
 * install instance members on the prototype itself.
 */
export function materializeLazyMembers(roots: readonly object[]): void {
  const seen = new WeakSet<object>();
  let queue: object[] = [];
  const visit = (value: unknown): void => {
    if (typeof value !== 'object' || value === null || seen.has(value)) return;
    seen.add(value);
    queue.push(value);
  };
  const read = (target: object, key: PropertyKey): void => {
    try {
      visit(Reflect.get(target, key));
    } catch {
      // A getter that throws defines nothing.
    }
  };
  roots.forEach(visit);
  while (queue.length > 0) {
    const batch = queue;
    queue = [];
    for (const target of batch) {
      for (let proto = Object.getPrototypeOf(target) as object | null; proto && proto !== Object.prototype;) {
        for (const key of Reflect.ownKeys(proto))
          if (Object.getOwnPropertyDescriptor(proto, key)?.get) read(target, key);
        proto = Object.getPrototypeOf(proto) as object | null;
      }
      for (const key of Reflect.ownKeys(target)) read(target, key);
      if (isSchema(target))
        for (const input of FIRST_PARSE_INPUTS) {
          try {
            target.safeParse(input);
          } catch {
            // A transform or refinement that throws on this input: the first parse happened all the same.
          }
        }
    }
  }
}

/** Inputs of the warm-up parses: enough that every kind of schema runs its first parse. */
const FIRST_PARSE_INPUTS: readonly unknown[] = [undefined, null, {}, [], '', 0];

const isSchema = (value: object): value is { safeParse(input: unknown): unknown } =>
  '_zod' in value && typeof (value as { safeParse?: unknown }).safeParse === 'function';

materializeLazyMembers([...sharedModules, z]);
