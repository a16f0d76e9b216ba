import type { z } from 'zod';
import { ErrorType, hvError } from './errors.js';

/** Turns zod issues into one readable line per problem, each prefixed with its path. */
export function formatIssues(error: z.ZodError): string {
  return error.issues
    .map((issue) => (issue.path.length ? `${issue.path.join('.')}: ${issue.message}` : issue.message))
    .join('; ');
}

/**
 * Parses untrusted input with `schema` or throws an `InvalidInput` failure listing every problem. Used at every edge:
 * client calls, update validators and workflow entry.
 */
export function parseInput<S extends z.ZodType>(schema: S, input: unknown, what: string): z.output<S> {
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  throw hvError(ErrorType.InvalidInput, `invalid ${what}: ${formatIssues(result.error)}`, {
    issues: result.error.issues.map((issue) => ({ path: issue.path.map(String), message: issue.message })),
  });
}
