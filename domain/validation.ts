import type { z } from 'zod';
import { ErrorType, hvError } from './errors.js';
import { MESSAGE_LIMITS } from './limits.js';

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
export function parseInput<S extends z.ZodType>(
  schema: S,
  input: unknown,
  what: string,
  maxNesting: number = MESSAGE_LIMITS.maxNesting,
): z.output<S> {
  // Before any recursive code sees it: a stack overflow depends on how deep the caller's stack already is, which
  // differs between a live run and its replay, so deep nesting must be refused by a rule, never by running out of stack.
  if (nestedDeeperThan(input, maxNesting))
    throw hvError(ErrorType.InvalidInput, `invalid ${what}: nested deeper than ${maxNesting} levels`, {});
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

/** Whether arrays and objects in `value` nest deeper than `max` levels. Iterative: it never recurses itself. */
export function nestedDeeperThan(value: unknown, max: number): boolean {
  const stack: Array<[unknown, number]> = [[value, 0]];
  while (stack.length > 0) {
    const [item, depth] = stack.pop()!;
    if (typeof item !== 'object' || item === null) continue;
    if (depth >= max) return true;
    for (const child of Array.isArray(item) ? item : Object.values(item)) stack.push([child, depth + 1]);
  }
  return false;
}
