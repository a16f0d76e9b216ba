import { randomUUID } from 'node:crypto';
import type { z } from 'zod';
import type { OperatorSigner } from '../domain/operator-command.js';
import { ElevationRequest } from '../domain/elevation.js';
import { ErrorType } from '../domain/errors.js';
import { KillSwitchCommandInput, KillSwitchConfig } from '../domain/kill-switch.js';
import {
  ApproveJoinInput,
  KillAgentInput,
  QuarantineInput,
  ReleaseQuarantineInput,
  RevokeElevationInput,
  TerminateSessionInput,
} from '../domain/session-types.js';
import { HypervisorError } from './errors.js';
import { signedArgs } from './operator-signing.js';

/**
 * The operator commands an operator's own tool signs before handing them to someone else to send (the HTTP API relays
 * a signed body unchanged, DESIGN §13 and §15): each with the schema whose defaults the workflow will see, and the
 * field that names the signer.
 */
export const SIGNABLE_COMMANDS = {
  requestKill: { schema: KillAgentInput, actor: 'authorizedBy' },
  killAgent: { schema: KillAgentInput, actor: 'authorizedBy' },
  terminateSession: { schema: TerminateSessionInput, actor: 'authorizedBy' },
  quarantineAgent: { schema: QuarantineInput, actor: 'authorizedBy' },
  releaseQuarantine: { schema: ReleaseQuarantineInput, actor: 'authorizedBy' },
  requestRevocation: { schema: RevokeElevationInput, actor: 'authorizedBy' },
  approveJoin: { schema: ApproveJoinInput, actor: 'approverDid' },
  requestElevation: { schema: ElevationRequest, actor: 'approvedBy' },
  tripKillSwitch: { schema: KillSwitchCommandInput, actor: 'authorizedBy' },
  unblockKillSwitch: { schema: KillSwitchCommandInput, actor: 'authorizedBy' },
  configureKillSwitch: { schema: KillSwitchConfig, actor: null },
} as const satisfies Record<string, { schema: z.ZodType; actor: string | null }>;
export type SignableCommand = keyof typeof SIGNABLE_COMMANDS;

export const isSignableCommand = (cmd: string): cmd is SignableCommand => Object.hasOwn(SIGNABLE_COMMANDS, cmd);

/**
 * `body` signed by `signer` as `cmd` for `workflowId`: the signer named as the actor, a kill id drawn when a kill has
 * none, and every default filled in, so the body that arrives is the body that was signed. An invalid body is signed
 * as it is (the workflow refuses it after checking the signature) unless `strict`.
 */
export function signBody(
  signer: OperatorSigner,
  cmd: SignableCommand,
  workflowId: string,
  body: Record<string, unknown>,
  options: { strict?: boolean } = {},
): object {
  const spec = SIGNABLE_COMMANDS[cmd];
  const named: Record<string, unknown> = { ...body };
  if (spec.actor) named[spec.actor] ??= signer.did;
  if (cmd === 'requestKill' || cmd === 'killAgent') named.killId ??= randomUUID();
  const parsed = (spec.schema as z.ZodType).safeParse(named);
  if (!parsed.success && options.strict)
    throw new HypervisorError(ErrorType.InvalidInput, `invalid ${cmd} body: ${parsed.error.message}`);
  return signedArgs(signer, cmd, workflowId, parsed.success ? (parsed.data as object) : named);
}
