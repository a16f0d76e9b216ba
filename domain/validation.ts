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
 * client calls, update validators, signal handlers and workflow entry. Never throws anything else: a refinement that
 * throws on exotic input (a stack overflow on deep nesting, say) is an invalid input too, so that inside a workflow
 * a bad message fails its update or is dropped, never the workflow task.
 */
export function parseInput<S extends z.ZodType>(schema: S, input: unknown, what: string): z.output<S> {
  let result: z.ZodSafeParseResult<z.output<S>>;
  try {
    result = schema.safeParse(input);
  } catch (err) {
    throw hvError(ErrorType.InvalidInput, `invalid ${what}: could not be read (${(err as Error).name})`, {});
  }
  if (result.success) return result.data;
  throw hvError(ErrorType.InvalidInput, `invalid ${what}: ${formatIssues(result.error)}`, {
    issues: result.error.issues.map((issue) => ({ path: issue.path.map(String), message: issue.message })),
  });
}
