import { createRemoteJWKSet, jwtVerify, type JWTPayload } from 'jose';
import { ErrorType } from '../domain/errors.js';
import { API_KEY_PREFIX, findApiKey } from '../store/api-keys.js';
import type { Pool } from '../store/db.js';
import type { ApiConfig } from './config.js';
import { ApiError, ApiErrorType } from './problems.js';

/** Who is calling, from the credential alone: the DID the request acts as, and whether it may use operator routes. */
export interface Principal {
  did: string;
  role: 'agent' | 'operator';
  /** Keys the edge rate limit: one bucket per credential (an API key id, or the JWT's issuer and subject). */
  credentialId: string;
  via: 'api-key' | 'jwt';
}

export type Authenticate = (authorization: string | undefined) => Promise<Principal>;

const roleList = (claim: unknown): string[] =>
  typeof claim === 'string' ? claim.split(/[\s,]+/) : Array.isArray(claim) ? claim.map(String) : [];

/**
 * Resolves a request's `Authorization: Bearer …` to a {@link Principal}, or throws 401. API keys (`hvk_…`) are looked
 * up by their SHA-256 in Postgres on every request, so a revocation takes effect at once; anything else is a JWT,
 * verified against the configured JWKS (signature, expiry, issuer and audience), its DID from the configured claim.
 */
export function createAuthenticator(pool: Pool, config: ApiConfig): Authenticate {
  const jwt = config.jwt;
  const jwks = jwt ? createRemoteJWKSet(new URL(jwt.jwksUrl)) : undefined;
  const unauthenticated = (why: string) => new ApiError(ApiErrorType.Unauthenticated, why);
  return async (authorization) => {
    const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? '');
    if (!match) throw unauthenticated('a credential is required: Authorization: Bearer <API key or JWT>');
    const token = match[1]!;
    if (token.startsWith(API_KEY_PREFIX)) {
      const key = await findApiKey(pool, token);
      if (!key) throw unauthenticated('unknown or revoked API key');
      return { did: key.agentDid, role: key.role, credentialId: `key:${key.keyId}`, via: 'api-key' };
    }
    if (!jwt || !jwks) throw unauthenticated('not an API key, and this server accepts no JWTs (HV_API_JWKS_URL)');
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, jwks, { issuer: jwt.issuer, audience: jwt.audience }));
    } catch (err) {
      throw unauthenticated(`JWT rejected: ${(err as Error).message}`);
    }
    const did = payload[jwt.didClaim];
    if (typeof did !== 'string' || !did.startsWith('did:'))
      throw unauthenticated(`JWT claim ${jwt.didClaim} must hold the caller's DID`);
    const role = roleList(payload[jwt.roleClaim]).includes('operator') ? 'operator' : 'agent';
    return { did, role, credentialId: `jwt:${payload.iss ?? ''}:${did}`, via: 'jwt' };
  };
}

/** The operator routes: control commands. An agent credential gets 403. */
export function requireOperator(principal: Principal): void {
  if (principal.role !== 'operator')
    throw new ApiError(ApiErrorType.Forbidden, 'this route needs an operator credential', { did: principal.did });
}

/**
 * Fills the acting-DID field of a body from the credential. The API never takes the acting DID from the body: a body
 * that names another DID there is refused (403), not silently rewritten, so a confused or malicious caller learns why.
 */
export function actingAs<T extends object, K extends string>(
  principal: Principal,
  body: T,
  field: K,
): T & Record<K, string> {
  const named = (body as Record<string, unknown>)[field];
  if (named !== undefined && named !== principal.did)
    throw new ApiError(ErrorType.PermissionDenied, `${field} must be the caller's own DID (${principal.did})`, {
      field,
      named,
      caller: principal.did,
    });
  // A signed operator command goes on exactly as signed: the signature covers the body, and the workflow takes the
  // actor from the signer (DESIGN §13).
  if ('auth' in body && body.auth !== undefined) return body as T & Record<K, string>;
  return { ...body, [field]: principal.did } as T & Record<K, string>;
}

/** An agent reads and acts on its own identity only; an operator on any. */
export function selfOrOperator(principal: Principal, did: string): void {
  if (principal.role !== 'operator' && did !== principal.did)
    throw new ApiError(ErrorType.PermissionDenied, `an agent credential acts only for its own DID (${principal.did})`, {
      did,
      caller: principal.did,
    });
}
