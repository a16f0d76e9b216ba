import { ErrorType } from '../../domain/errors.js';
import { HypervisorError, exitCodeFor } from '../errors.js';
import { c } from './output.js';

/** What to do next, by error type: the second half of the one-line error `hv` prints. */
const HINTS: Record<ErrorType, string> = {
  [ErrorType.InvalidInput]: 'check the arguments (`hv <command> --help`)',
  [ErrorType.SessionNotFound]: 'check the id with `hv session list`; a closed session answers only `hv audit …`',
  [ErrorType.IllegalTransition]: 'see the session state with `hv session show`',
  [ErrorType.SessionFull]: 'raise maxParticipants in the session config, or let an agent leave',
  [ErrorType.NotParticipant]: 'join the agent first (`hv session join`)',
  [ErrorType.AlreadyParticipant]: 'the agent is already in this session; see `hv session show`',
  [ErrorType.AgentKilled]: 'a killed agent stays out of the session; join a new identity',
  [ErrorType.AgentQuarantined]: 'lift it with `hv quarantine <session> --release`, or wait for the timeout',
  [ErrorType.KillSwitchTripped]: 'an operator can lift the block with `hv agent unblock`',
  [ErrorType.TrustTooLow]: "the agent's eff-score is below the session's minimum: vouch for it or raise σ",
  [ErrorType.ConsensusRequired]: 'ring 1 needs an approval first (`hv session approve`)',
  [ErrorType.RingViolation]: 'the action needs a more privileged ring: `hv elevate` with an approver',
  [ErrorType.RateLimited]: 'retry after the delay in the details, or lower the call rate',
  [ErrorType.ElevationDenied]: 'see the reason; rings 0 and 1 need --approved-by (ring 0 also --witness)',
  [ErrorType.PermissionDenied]: 'the path is restricted: ask its owner (`hv state permit`)',
  [ErrorType.NotFound]: 'check the id or path',
  [ErrorType.LockContention]: 'another agent holds the lock: retry later or see `hv lock list`',
  [ErrorType.Deadlock]: 'release one of the locks in the cycle and retry',
  [ErrorType.StaleWrite]: 'read the current version (`hv state read`) and retry with --base-version',
  [ErrorType.LimitExceeded]: 'a limit from DESIGN §12 was reached; see the details',
  [ErrorType.VouchRejected]: 'see the reason: σ ≥ 0.50, no self-vouching or cycles, bonds ≤ 80 % of σ',
  [ErrorType.StandingDenied]: 'the ledger denies this agent: see `hv ledger show <did>`',
  [ErrorType.SagaDefinitionInvalid]: 'run `hv saga validate <file>` for every problem',
  [ErrorType.ChainBroken]: 'the audit chain disagrees with the store: run `hv audit verify`',
  [ErrorType.SessionExists]: 'session ids are never reused: pick another --id',
  [ErrorType.AuditUnavailable]: 'the audit store is unreachable or full: check PostgreSQL and the worker, then retry',
  [ErrorType.Internal]: 'a bug in the hypervisor: please report it with the worker log',
};

/** Failures that are not the hypervisor's own, recognised by their message. */
const CONNECTION_HINTS: Array<[RegExp, string]> = [
  [/connect before the deadline|14 UNAVAILABLE|transport error/i, 'is the Temporal server up? (TEMPORAL_ADDRESS)'],
  [/ECONNREFUSED|password authentication|database .* does not exist/i, 'is PostgreSQL up? (DATABASE_URL)'],
];

export interface CliError {
  line: string;
  exitCode: number;
}

/** The one line (with its hint) and the exit code `hv` ends with for `err`. */
export function describeError(err: unknown): CliError {
  if (err instanceof HypervisorError) {
    return {
      line: `${c.red(c.bold(`error [${err.type}]:`))} ${err.message} ${c.dim(`— ${HINTS[err.type]}`)}`,
      exitCode: exitCodeFor(err.type),
    };
  }
  const message = err instanceof Error ? err.message : String(err);
  const hint = CONNECTION_HINTS.find(([pattern]) => pattern.test(message))?.[1];
  return { line: `${c.red(c.bold('error:'))} ${message}${hint ? c.dim(` — ${hint}`) : ''}`, exitCode: 1 };
}

/** The error as JSON, for `--json`: scripts read `type`, `message` and `details`. */
export function errorJson(err: unknown): Record<string, unknown> {
  if (err instanceof HypervisorError)
    return { error: { type: err.type, message: err.message, details: err.details, hint: HINTS[err.type] } };
  return { error: { type: 'Error', message: err instanceof Error ? err.message : String(err) } };
}
