import { Histogram, type Registry } from 'prom-client';

/** The authorize round trip as a caller sees it: validation, the update, the session's decision, the answer. */
export const AUTHORIZE_LATENCY = 'hypervisor_authorize_latency_seconds';

/** Who asked: an application through `HypervisorClient`, or a saga step through the worker's activity. */
export type AuthorizeCaller = 'client' | 'saga_step';
/** `allow` or `deny` by the session, `error` when no decision came back (invalid input, session gone, …). */
export type AuthorizeOutcome = 'allow' | 'deny' | 'error';

/** Records one authorize round trip. */
export type AuthorizeObserver = (seconds: number, outcome: AuthorizeOutcome) => void;

/**
 * The authorize latency histogram in `registry` (created once, reused by every client sharing the registry), as an
 * observer for one caller. Measured by the caller around the call it makes anyway, so it adds nothing to the critical
 * path, and the labels are closed sets. Buckets from 5 ms (a warm session on a near server) to 10 s.
 */
export function authorizeLatencyObserver(registry: Registry, caller: AuthorizeCaller): AuthorizeObserver {
  const histogram =
    (registry.getSingleMetric(AUTHORIZE_LATENCY) as Histogram<'caller' | 'outcome'> | undefined) ??
    new Histogram({
      name: AUTHORIZE_LATENCY,
      help: 'Authorize round trips as the caller sees them, by caller and outcome',
      labelNames: ['caller', 'outcome'] as const,
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [registry],
    });
  return (seconds, outcome) => histogram.observe({ caller, outcome }, seconds);
}

/** Times `call` (a promise of a decision) into `observe`, when there is one; the decision passes through untouched. */
export async function timedAuthorize<T extends { allowed: boolean }>(
  observe: AuthorizeObserver | undefined,
  call: () => Promise<T>,
): Promise<T> {
  if (!observe) return call();
  const started = performance.now();
  try {
    const decision = await call();
    observe((performance.now() - started) / 1000, decision.allowed ? 'allow' : 'deny');
    return decision;
  } catch (err) {
    observe((performance.now() - started) / 1000, 'error');
    throw err;
  }
}
