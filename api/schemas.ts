import { z } from 'zod';
import { AgentDid, SessionId, identifier } from '../domain/identifiers.js';

/** Path parameters. */
export const SessionParams = z.object({ sessionId: SessionId });
export const AgentParams = z.object({ did: AgentDid });
export const SagaParams = z.object({ sagaId: identifier('sagaId') });

/**
 * The signed operator command of the trust boundary (issue 13): `{kid, iat, exp, nonce, sig}`. The API does not read
 * or check it; it forwards it unchanged to the client call, where the hypervisor verifies it.
 */
export const OperatorAuth = z
  .looseObject({})
  .describe("the operator's signed command ({kid, iat, exp, nonce, sig}), forwarded unchanged to the hypervisor")
  .meta({ id: 'OperatorAuth' });

type Filled<T, K extends PropertyKey> = Omit<T, K> & Partial<Record<K, string>>;

/** A body schema with its acting-DID field made optional: the API fills it from the credential (auth.ts actingAs). */
export const callerFilled = <S extends z.ZodObject, K extends string>(schema: S, field: K) =>
  schema.extend({
    [field]: AgentDid.optional().describe("filled from the credential; if given, it must be the caller's own DID"),
  }) as unknown as z.ZodType<Filled<z.output<S>, K>, Filled<z.input<S>, K>>;

/**
 * {@link callerFilled} for a request that may carry an operator's signed approval (an approval in a session
 * operator's name is an operator command, DESIGN §13): the signed command `auth` is forwarded unchanged.
 */
export const callerFilledSigned = <S extends z.ZodObject, K extends string>(schema: S, field: K) =>
  schema.extend({
    [field]: AgentDid.optional().describe("filled from the credential; if given, it must be the caller's own DID"),
    auth: OperatorAuth.optional(),
  }) as unknown as z.ZodType<
    Filled<z.output<S>, K> & { auth?: Record<string, unknown> },
    Filled<z.input<S>, K> & { auth?: Record<string, unknown> }
  >;

/** An operator command body: `authorizedBy` filled from the credential, and the signed command forwarded. */
export const operatorCommand = <S extends z.ZodObject>(schema: S) =>
  schema.extend({
    authorizedBy: AgentDid.optional().describe('filled from the operator credential; if given, it must be that DID'),
    auth: OperatorAuth.optional(),
  }) as unknown as z.ZodType<
    Filled<z.output<S>, 'authorizedBy'> & { auth?: Record<string, unknown> },
    Filled<z.input<S>, 'authorizedBy'> & { auth?: Record<string, unknown> }
  >;

/** Responses the hypervisor returns: JSON whose exact shapes are the client's TypeScript types (client/, domain/). */
export const Json = z.unknown().describe('a JSON object: the client call’s result');
export const JsonList = z.array(z.unknown()).describe('a JSON array: the client call’s result');
