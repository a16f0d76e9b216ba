import { randomBytes, randomUUID } from 'node:crypto';
import { Client, Connection, WorkflowNotFoundError, type WorkflowHandle } from '@temporalio/client';
import type { QueryDefinition, SignalDefinition, UpdateDefinition } from '@temporalio/common';
import type { Registry } from 'prom-client';
import type { z } from 'zod';
import { ElevationRequest } from '../domain/elevation.js';
import { HvSessionId, HvSessionState } from '../domain/search-attributes.js';
import {
  AcquireLockInput,
  ActivateSessionInput,
  ApproveJoinInput,
  AuthorizeInput,
  CreateSessionInput,
  DeleteStateInput,
  JoinSessionInput,
  KillAgentInput,
  LeaveSessionInput,
  ListStateInput,
  ReadStateInput,
  ReleaseLockInput,
  RestoreInput,
  RevokeElevationInput,
  SetPermissionsInput,
  SnapshotInput,
  TerminateSessionInput,
  QuarantineInput,
  ReleaseQuarantineInput,
  VouchInput,
  WriteStateInput,
  type SessionCommitment,
} from '../domain/session-types.js';
import { ErrorType } from '../domain/errors.js';
import { KillSwitchCommandInput, killSwitchTripped } from '../domain/kill-switch.js';
import { fromMicro } from '../domain/liability.js';
import { StartSagaInput } from '../domain/saga-types.js';
import { parseInput } from '../domain/validation.js';
import * as msg from '../workflows/messages.js';
import type { agentWorkflow } from '../workflows/agent.js';
import type { sessionWorkflow } from '../workflows/session/workflow.js';
import { temporalTarget } from './connection.js';
import { flushTracing, tracingClientInterceptors } from './tracing.js';
import { authorizeLatencyObserver, timedAuthorize, type AuthorizeObserver } from './metrics.js';
import { verifyAuditChain, type VerifyAuditOptions, type VerifyAuditReport } from './audit.js';
import { HypervisorError, guard, toHypervisorError } from './errors.js';
import {
  singleOperator,
  signedArgs,
  withKeyRefresh,
  type OperatorKeyring,
  type OperatorSigner,
} from './operator-signing.js';
import { OperatorRegistryHandle } from './operator-registry.js';
import { SagaHandle, resumeSaga, startSaga, type StartSagaOptions } from './saga.js';

export interface ConnectOptions {
  env?: NodeJS.ProcessEnv;
  taskQueue?: string;
  /** A prom-client registry this process exposes: authorize round trips go into `hypervisor_authorize_latency_seconds`. */
  metrics?: Registry;
  /** Signs control commands (kill, quarantine, terminate, kill-switch trip…; docs/DESIGN.md §13). */
  operator?: OperatorSigner | OperatorKeyring;
  /**
   * Milliseconds to wait for the Temporal server before failing. Default: `HV_TEMPORAL_CONNECT_TIMEOUT_MS`, else the
   * SDK's 10 s. `hv` waits 3 s, so a wrong TEMPORAL_ADDRESS fails fast.
   */
  connectTimeoutMs?: number;
}

/** A positive whole number of milliseconds from the environment, or undefined (unset or not a number: the default). */
function timeoutMsOf(value: string | undefined): number | undefined {
  const ms = Number(value);
  return value && Number.isSafeInteger(ms) && ms > 0 ? ms : undefined;
}

const keyringOf = (operator: ConnectOptions['operator']): OperatorKeyring | undefined =>
  operator && 'privateKey' in operator ? singleOperator(operator) : operator;

/**
 * Typed façade over the Temporal client (DESIGN §6). Inputs are validated here before anything is sent, and every
 * rejection reaches the caller as a `HypervisorError` with a typed `type`.
 */
export class HypervisorClient {
  private readonly observeAuthorize: AuthorizeObserver | undefined;

  private constructor(
    readonly temporal: Client,
    readonly taskQueue: string,
    options: { connection?: Connection; metrics?: Registry; operators?: OperatorKeyring },
  ) {
    this.connection = options.connection;
    this.observeAuthorize = options.metrics && authorizeLatencyObserver(options.metrics, 'client');
    this.operators = options.operators;
  }

  private readonly connection: Connection | undefined;
  private readonly operators: OperatorKeyring | undefined;

  /** Connects with the standard `TEMPORAL_*` variables (default localhost:7233, namespace `default`). */
  static async connect(options: ConnectOptions = {}): Promise<HypervisorClient> {
    const env = options.env ?? process.env;
    const target = temporalTarget(env);
    const connectTimeout = options.connectTimeoutMs ?? timeoutMsOf(env.HV_TEMPORAL_CONNECT_TIMEOUT_MS);
    const connection = await Connection.connect({
      ...target.connectionOptions,
      ...(connectTimeout !== undefined && { connectTimeout }),
    });
    // Traced when the OTel variables ask for it (client/tracing.ts); otherwise no interceptor and nothing loaded.
    const interceptors = await tracingClientInterceptors(env);
    const client = new Client({ connection, namespace: target.namespace, interceptors });
    return new HypervisorClient(client, options.taskQueue ?? env.TEMPORAL_TASK_QUEUE ?? msg.DEFAULT_TASK_QUEUE, {
      connection,
      metrics: options.metrics,
      operators: keyringOf(options.operator),
    });
  }

  /** Wraps an existing Temporal client (tests, or applications that already hold one). */
  static fromClient(
    client: Client,
    taskQueue: string = msg.DEFAULT_TASK_QUEUE,
    options: Pick<ConnectOptions, 'metrics' | 'operator'> = {},
  ): HypervisorClient {
    return new HypervisorClient(client, taskQueue, {
      metrics: options.metrics,
      operators: keyringOf(options.operator),
    });
  }

  /** Starts a session workflow; the session is in `handshaking` until {@link SessionHandle.activate}. */
  async createSession(input: Omit<CreateSessionInput, 'sessionId'> & { sessionId?: string }): Promise<SessionHandle> {
    const parsed = guard(() =>
      parseInput(CreateSessionInput, { ...input, sessionId: input.sessionId ?? randomUUID() }, 'session'),
    );
    // A blocked identity creates no session (cMCP: refused before anything is allocated).
    const status = await this.agent(parsed.creatorDid)
      .status()
      .catch(() => null);
    if (status?.blocked) throw toHypervisorError(killSwitchTripped(parsed.creatorDid, status.blocked));
    await this.temporal.workflow
      .start<typeof sessionWorkflow>(msg.SESSION_WORKFLOW_TYPE, {
        taskQueue: this.taskQueue,
        workflowId: msg.sessionWorkflowId(parsed.sessionId),
        // A session id names one audit chain forever: a closed session's id is not reusable.
        workflowIdReusePolicy: 'REJECT_DUPLICATE',
        args: [parsed],
        typedSearchAttributes: [
          { key: HvSessionId, value: parsed.sessionId },
          { key: HvSessionState, value: 'handshaking' },
        ],
        staticSummary: `session ${parsed.sessionId} created by ${parsed.creatorDid}`,
      })
      .catch((err: unknown) => {
        throw toHypervisorError(err, { sessionId: parsed.sessionId });
      });
    return this.session(parsed.sessionId);
  }

  /** Starts a saga from a definition (YAML/JSON already parsed); see `client/saga.ts`. */
  startSaga(definition: unknown, options: Omit<StartSagaOptions, 'taskQueue'> = {}): Promise<SagaHandle> {
    return startSaga(this.temporal, definition, { ...options, taskQueue: this.taskQueue });
  }

  /** The identity workflow of an agent: kill-switch status, operator trip and unblock, configuration. */
  agent(agentDid: string): AgentHandle {
    return new AgentHandle(agentDid, this.temporal.workflow.getHandle(msg.agentWorkflowId(agentDid)), this.operators);
  }

  /** The namespace's operator registry: register, rotate and revoke operator keys (signed by this client's key). */
  operatorRegistry(): OperatorRegistryHandle {
    return new OperatorRegistryHandle(this.temporal, this.taskQueue, this.operators);
  }

  saga(sagaId: string): SagaHandle {
    return new SagaHandle(sagaId, this.temporal.workflow.getHandle(msg.sagaWorkflowId(sagaId)));
  }

  resumeSaga(sagaId: string): Promise<SagaHandle> {
    return resumeSaga(this.temporal, sagaId, this.taskQueue);
  }

  session(sessionId: string): SessionHandle {
    return new SessionHandle(
      sessionId,
      this.temporal.workflow.getHandle(msg.sessionWorkflowId(sessionId)),
      this.observeAuthorize,
      this.operators,
    );
  }

  /**
   * Sessions known to Temporal visibility, newest first, optionally filtered by state and by agent. A session lists a
   * bounded set of its agents in `HvAgentIds` (`listedAgentIds`); for an agent it could not list, the identity's own
   * workflow knows the session (`getSessions`), so both are asked and their answers merged.
   */
  async listSessions(
    filter: { state?: string; agent?: string; limit?: number } = {},
  ): Promise<Array<{ sessionId: string; status: string; startTime: Date }>> {
    const quoted = (value: string) => `'${value.replace(/'/g, '')}'`;
    const clauses = [
      `WorkflowType = '${msg.SESSION_WORKFLOW_TYPE}'`,
      filter.state ? `HvSessionState = ${quoted(filter.state)}` : '',
    ].filter(Boolean);
    const limit = filter.limit ?? 100;
    const listed = await this.visibleSessions(
      [...clauses, ...(filter.agent ? [`HvAgentIds = ${quoted(filter.agent)}`] : [])].join(' AND '),
      limit,
    );
    if (!filter.agent) return listed;
    const known = new Set(listed.map((s) => s.sessionId));
    const remembered = (await this.agentSessions(filter.agent)).filter((id) => !known.has(id));
    if (remembered.length === 0) return listed;
    const ids = remembered.map((id) => quoted(msg.sessionWorkflowId(id))).join(', ');
    const more = await this.visibleSessions([...clauses, `WorkflowId IN (${ids})`].join(' AND '), limit);
    return [...listed, ...more].sort((a, b) => b.startTime.getTime() - a.startTime.getTime()).slice(0, limit);
  }

  private async visibleSessions(
    query: string,
    limit: number,
  ): Promise<Array<{ sessionId: string; status: string; startTime: Date }>> {
    const out: Array<{ sessionId: string; status: string; startTime: Date }> = [];
    for await (const execution of this.temporal.workflow.list({ query })) {
      out.push({
        sessionId: execution.workflowId.replace(/^session:/, ''),
        status: execution.status.name,
        startTime: execution.startTime,
      });
      if (out.length >= limit) break;
    }
    return out;
  }

  /** The sessions an identity's workflow remembers joining; none when it has no workflow (never admitted). */
  private async agentSessions(agentDid: string): Promise<string[]> {
    try {
      return await this.temporal.workflow.getHandle(msg.agentWorkflowId(agentDid)).query(msg.getSessionsQuery);
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) return [];
      throw err;
    }
  }

  async close(): Promise<void> {
    await this.connection?.close();
    await flushTracing();
  }
}

const approval: Control = { actor: 'approvedBy', whenNamed: true };
type KillInput = Omit<z.input<typeof KillAgentInput>, 'killId' | 'authorizedBy'> & {
  killId?: string;
  authorizedBy?: string;
};
const withKillId = (input: KillInput) =>
  ({ ...input, killId: input.killId ?? `kill-${randomUUID()}` }) as z.input<typeof KillAgentInput>;

/** Operations on one session. Method names follow DESIGN §6; wire names are in workflows/messages.ts. */
const UPDATE_ATTEMPTS = 5;

/**
 * The server aborts admitted updates with FAILED_PRECONDITION "unexpected workflow task failure" when the workflow
 * task that would have accepted them is rejected, typically a continue-as-new racing a new event (UnhandledCommand).
 * Nothing of such an update was applied, and unlike the "workflow is closing" abort the SDK does not retry it.
 */
function updateNeverAccepted(err: unknown): boolean {
  const cause = (err as { cause?: { code?: unknown; details?: unknown } })?.cause;
  return (
    cause?.code === 9 && typeof cause.details === 'string' && /unexpected workflow task failure/.test(cause.details)
  );
}

/**
 * Polling for the outcome of an update that the run had admitted but not accepted when it continued as new answers
 * NOT_FOUND (`update "<id>" not found`): nothing of it was applied there. Sent again with the same id it reaches the
 * next run, and an update the previous run did apply is answered there from the session's remembered answers
 * (workflows/session/replies.ts), so the retry never applies anything twice.
 */
function updateLostAtHandOver(err: unknown): boolean {
  return err instanceof WorkflowNotFoundError && /^update ".*" not found/.test(err.message);
}

/** How a control command names its actor, and whether it is one only when it names an operator (approvals). */
interface Control {
  actor: string;
  /** Signed only when the actor is given and the keyring holds its key (an agent's own approval is not signed). */
  whenNamed?: boolean;
}
const byOperator: Control = { actor: 'authorizedBy' };

export class SessionHandle {
  constructor(
    readonly sessionId: string,
    readonly workflow: WorkflowHandle<typeof sessionWorkflow>,
    private readonly observeAuthorize?: AuthorizeObserver,
    private readonly operators?: OperatorKeyring,
  ) {}

  private async update<S extends z.ZodType, R>(
    def: UpdateDefinition<R, [z.input<S>]>,
    schema: S,
    what: string,
    input: z.input<S>,
  ): Promise<R> {
    return this.send(
      def,
      guard(() => parseInput(schema, input, what)),
    );
  }

  /**
   * A control command: signed with the keyring's key for its actor (filled in with the signer when absent), and sent
   * again once after a directory refresh when the workflow does not know the key yet. Without a key it is sent
   * unsigned, and the workflow refuses it.
   */
  private async command<S extends z.ZodType, R>(
    def: UpdateDefinition<R, [z.input<S>]> | SignalDefinition<[z.input<S>]>,
    schema: S,
    what: string,
    input: z.input<S>,
    control: Control,
  ): Promise<R> {
    const named = (input as Record<string, unknown>)[control.actor] as string | undefined;
    const signer = control.whenNamed && named === undefined ? undefined : await this.operators?.signerFor(named);
    const send = (payload: unknown) =>
      def.type === 'update'
        ? this.send(def, payload)
        : (this.signalRaw(def, payload) as Promise<unknown> as Promise<R>);
    // Signed by its operator already (relayed by the HTTP API): sent exactly as signed; the workflow parses and verifies.
    if (preSigned(input)) return withKeyRefresh(this.workflow, () => send(input));
    if (!signer) return send(guard(() => parseInput(schema, input, what)));
    const filled = { ...(input as Record<string, unknown>), [control.actor]: named ?? signer.did };
    const parsed = guard(() => parseInput(schema, filled, what)) as object;
    return withKeyRefresh(this.workflow, () => send(signedArgs(signer, def.name, this.workflow.workflowId, parsed)));
  }

  /** Sends an update's (already validated) payload, retrying the hand-over races described above. */
  private async send<R, A extends unknown[]>(def: UpdateDefinition<R, A>, payload: unknown): Promise<R> {
    // One id for every attempt: Temporal deduplicates an update id within a run. 96 random bits in 16 characters: the
    // id is written four times into the history of every update, so its length is paid per call.
    const updateId = randomBytes(12).toString('base64url');
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.workflow.executeUpdate(def as unknown as UpdateDefinition<R, [unknown]>, {
          args: [payload],
          updateId,
        });
      } catch (err) {
        if (attempt < UPDATE_ATTEMPTS && (updateNeverAccepted(err) || updateLostAtHandOver(err))) continue;
        throw toHypervisorError(err, { sessionId: this.sessionId });
      }
    }
  }

  private async signal<S extends z.ZodType>(
    def: SignalDefinition<[z.input<S>]>,
    schema: S,
    what: string,
    input: z.input<S>,
  ): Promise<void> {
    await this.signalRaw(
      def,
      guard(() => parseInput(schema, input, what)),
    );
  }

  private async signalRaw<A extends unknown[]>(def: SignalDefinition<A>, payload: unknown): Promise<void> {
    try {
      await this.workflow.signal(def as unknown as SignalDefinition<[unknown]>, payload);
    } catch (err) {
      throw toHypervisorError(err, { sessionId: this.sessionId });
    }
  }

  private async query<R, A extends unknown[]>(def: QueryDefinition<R, A>, ...args: A): Promise<R> {
    try {
      return await this.workflow.query(def, ...args);
    } catch (err) {
      throw toHypervisorError(err, { sessionId: this.sessionId });
    }
  }

  join = (input: JoinSessionInput) => this.update(msg.joinSessionUpdate, JoinSessionInput, 'join', input);
  approveJoin = (input: ApproveJoinInput) =>
    this.command(msg.approveJoinUpdate, ApproveJoinInput, 'approval', input, { actor: 'approverDid', whenNamed: true });
  leave = (input: LeaveSessionInput) => this.update(msg.leaveSessionUpdate, LeaveSessionInput, 'leave', input);
  activate = (input: ActivateSessionInput = {}) =>
    this.update(msg.activateSessionUpdate, ActivateSessionInput, 'activation', input);
  /** The session's decision; timed into `hypervisor_authorize_latency_seconds` when the client was given a registry. */
  authorize = (input: AuthorizeInput) =>
    timedAuthorize(this.observeAuthorize, () =>
      this.update(msg.authorizeActionUpdate, AuthorizeInput, 'authorization request', input),
    );

  /** Grants an elevation and returns it, or throws `ElevationDenied` saying why. */
  elevate = (input: z.input<typeof ElevationRequest>) =>
    this.command(msg.requestElevationUpdate, ElevationRequest, 'elevation request', input, approval);
  /** Fire-and-forget elevation (a signal: accepted even while no worker runs; denials are recorded in the audit). */
  sendElevate = (input: z.input<typeof ElevationRequest>) =>
    this.command(msg.elevateAgentSignal, ElevationRequest, 'elevation request', input, approval);
  revokeElevation = (input: z.input<typeof RevokeElevationInput>) =>
    this.command(msg.requestRevocationUpdate, RevokeElevationInput, 'revocation', input, byOperator);
  sendRevokeElevation = (input: z.input<typeof RevokeElevationInput>) =>
    this.command(msg.revokeElevationSignal, RevokeElevationInput, 'revocation', input, byOperator);

  /** Kills an agent in this session and returns what happened. Idempotent by `killId` (generated when omitted). */
  kill = (input: KillInput) =>
    this.command(msg.requestKillUpdate, KillAgentInput, 'kill', withKillId(input), byOperator);
  /** Durable kill: a signal the server accepts even when no worker is up; applied when one is. */
  sendKill = (input: KillInput) =>
    this.command(msg.killAgentSignal, KillAgentInput, 'kill', withKillId(input), byOperator);

  write = (input: WriteStateInput) => this.update(msg.writeStateUpdate, WriteStateInput, 'state write', input);
  read = (input: ReadStateInput) => this.update(msg.readStateUpdate, ReadStateInput, 'state read', input);
  delete = (input: DeleteStateInput) => this.update(msg.deleteStateUpdate, DeleteStateInput, 'state delete', input);
  list = (input: ListStateInput) =>
    this.query(
      msg.listStateQuery,
      guard(() => parseInput(ListStateInput, input, 'list request')),
    );
  setPermissions = (input: SetPermissionsInput) =>
    this.update(msg.setStatePermissionsUpdate, SetPermissionsInput, 'permission change', input);
  snapshot = (input: SnapshotInput) => this.update(msg.snapshotStateUpdate, SnapshotInput, 'snapshot', input);
  restore = (input: RestoreInput) => this.update(msg.restoreStateUpdate, RestoreInput, 'restore', input);

  acquireLock = (input: AcquireLockInput) =>
    this.update(msg.acquireLockUpdate, AcquireLockInput, 'lock request', input);
  releaseLock = (input: ReleaseLockInput) =>
    this.update(msg.releaseLockUpdate, ReleaseLockInput, 'lock release', input);
  locks = (filter: { agentDid?: string; path?: string } = {}) => this.query(msg.getLocksQuery, filter);

  view = () => this.query(msg.getSessionStateQuery);
  auditTail = (limit = 20) => this.query(msg.getAuditTailQuery, { limit });

  /** Terminates the session: releases everything it holds and returns the commitment over its audit chain. */
  terminate = (input: TerminateSessionInput = {}): Promise<SessionCommitment> =>
    this.command(msg.terminateSessionUpdate, TerminateSessionInput, 'termination', input, byOperator);
  /**
   * Starts a saga owned by this session (a child workflow that outlives the session's continue-as-new). The
   * definition's `session_id` may be omitted: it is this session.
   */
  /** Read-only isolation (ring 3) for `durationSeconds` (300), then release or kill per `onTimeout`. */
  quarantine = (input: Omit<QuarantineInput, 'authorizedBy'> & { authorizedBy?: string }) =>
    this.command(msg.quarantineAgentUpdate, QuarantineInput, 'quarantine', input as QuarantineInput, byOperator);
  releaseQuarantine = (input: Omit<ReleaseQuarantineInput, 'authorizedBy'> & { authorizedBy?: string }) =>
    this.command(
      msg.releaseQuarantineUpdate,
      ReleaseQuarantineInput,
      'quarantine release',
      input as ReleaseQuarantineInput,
      byOperator,
    );

  /** Posts a session-scoped bond: the voucher answers for the vouchee (raises its eff-score at join; shares its slashes). */
  vouch = async (input: VouchInput) => {
    const v = await this.update(msg.vouchUpdate, VouchInput, 'vouch', input);
    // Amounts travel as exact micro-units; callers read decimals.
    return { ...v, voucherSigma: fromMicro(v.voucherSigma), bond: fromMicro(v.bond) };
  };

  startSaga = (input: StartSagaInput) => this.update(msg.startSagaUpdate, StartSagaInput, 'saga start', input);

  /** Waits for the session to end (terminated or timed out) and returns its commitment. */
  result = async (): Promise<SessionCommitment> => {
    try {
      return await this.workflow.result();
    } catch (err) {
      throw toHypervisorError(err, { sessionId: this.sessionId });
    }
  };

  /** The commitment the workflow returned, or null while the session runs (or when Temporal no longer has it). */
  async finalCommitment(): Promise<SessionCommitment | null> {
    try {
      const described = await this.workflow.describe();
      if (described.status.name === 'COMPLETED') return await this.workflow.result();
      // Terminated but not yet closed (the last bookkeeping is in flight): the result is moments away.
      if (described.status.name === 'RUNNING' && (await this.view()).state === 'archived')
        return await this.workflow.result();
      return null;
    } catch (err) {
      if (toHypervisorError(err) instanceof HypervisorError) return null;
      throw err;
    }
  }

  /**
   * Verifies the session's audit chain in Postgres (see {@link verifyAuditChain}), using the workflow's own result as
   * one more anchor when the session has ended.
   */
  async verifyAudit(options: Omit<VerifyAuditOptions, 'workflowCommitment'>): Promise<VerifyAuditReport> {
    return verifyAuditChain(this.sessionId, { ...options, workflowCommitment: await this.finalCommitment() });
  }
}

/** A command its operator signed already (relayed by the HTTP API): it is sent exactly as signed. */
const preSigned = (input: unknown): boolean =>
  typeof input === 'object' && input !== null && (input as { auth?: unknown }).auth !== undefined;

/** A kill-switch trip or unblock: `authorizedBy` defaults to the signer. */
type OperatorCommand = { reason: string; authorizedBy?: string };
const checked = (cmd: OperatorCommand): OperatorCommand =>
  guard(() => parseInput(KillSwitchCommandInput.partial({ authorizedBy: true }), cmd, 'kill switch command'));

export class AgentHandle {
  constructor(
    readonly agentDid: string,
    readonly workflow: WorkflowHandle<typeof agentWorkflow>,
    private readonly operators?: OperatorKeyring,
  ) {}

  /** Trip, unblock and configure are signed by a registry operator (the keyring's key for `actor`, or its default). */
  private async signed<R, A extends unknown[]>(def: UpdateDefinition<R, A>, args: object, actor?: string): Promise<R> {
    const signer = await this.operators?.signerFor(actor);
    const send = (payload: unknown) =>
      this.call(() =>
        this.workflow.executeUpdate(def as unknown as UpdateDefinition<R, [unknown]>, { args: [payload] }),
      );
    if (preSigned(args)) return withKeyRefresh(this.workflow, () => send(args));
    if (!signer) return send(args);
    const named = actor === undefined && 'reason' in args ? { ...args, authorizedBy: signer.did } : args;
    return withKeyRefresh(this.workflow, () => send(signedArgs(signer, def.name, this.workflow.workflowId, named)));
  }

  private async call<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      const mapped = toHypervisorError(err);
      if (mapped instanceof HypervisorError && mapped.type === ErrorType.SessionNotFound)
        throw new HypervisorError(
          ErrorType.NotFound,
          `no identity workflow for agent ${this.agentDid} (it never joined)`,
          {
            agentDid: this.agentDid,
          },
        );
      throw mapped;
    }
  }

  status = () => this.call(() => this.workflow.query(msg.getKillSwitchStatusQuery));
  /** Operator trip: `reason` and `authorizedBy` are required; tripping a tripped switch changes nothing. */
  trip = async (cmd: OperatorCommand) =>
    this.signed(msg.tripKillSwitchUpdate, preSigned(cmd) ? cmd : checked(cmd), cmd.authorizedBy);
  /** Lifts the block and clears the window: the identity may join again. */
  unblock = async (cmd: OperatorCommand) =>
    this.signed(msg.unblockKillSwitchUpdate, preSigned(cmd) ? cmd : checked(cmd), cmd.authorizedBy);
  configure = (config: Record<string, unknown>) => this.signed(msg.configureKillSwitchUpdate, config);
}
