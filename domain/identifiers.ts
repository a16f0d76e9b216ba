import { z } from 'zod';

export const MAX_IDENTIFIER_LENGTH = 256;

/**
 * Identifier grammar of the reference (docs/DESIGN.md §R1): alphanumerics with `.`, `_`, `:` and `-` inside, never at either end.
 * Rejects path traversal, whitespace, markup and SQL-ish punctuation.
 */
export const IDENTIFIER_PATTERN = /^[a-zA-Z0-9](?:[a-zA-Z0-9._:-]*[a-zA-Z0-9])?$/;

export const identifier = (field: string) =>
  z
    .string({ error: `${field} must be a string` })
    .trim()
    .min(1, `${field} must not be empty`)
    .max(MAX_IDENTIFIER_LENGTH, `${field} exceeds maximum length of ${MAX_IDENTIFIER_LENGTH} characters`)
    // A refinement rather than `.regex`: zod's regex check resets the pattern's `lastIndex`, which a worker-wide shared
    // (frozen) pattern refuses (workflows/shared-modules.ts).
    .refine(
      (value) => IDENTIFIER_PATTERN.test(value),
      `${field} contains invalid characters: only alphanumerics, hyphens, underscores, colons and dots are allowed, and it must start and end with an alphanumeric`,
    );

/** An agent DID such as `did:mesh:alice`. */
export const AgentDid = identifier('agentDid');
export type AgentDid = z.infer<typeof AgentDid>;

export const SessionId = identifier('sessionId');
export type SessionId = z.infer<typeof SessionId>;
