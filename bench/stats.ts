/**
 * What every Temporal suite of `npm run bench` shares: the sample record, quantiles, timed loops, closed-loop load
 * windows, and the Markdown table with a verdict per goal. Verdicts are reported, never enforced: only invariants fail
 * a run (docs/DESIGN.md §9).
 */

export type Unit = 'ms' | 'events' | 'bytes' | 'transitions' | 'ratio' | 'per s' | 'MB' | 'KB' | 'count';

/** One measured figure: a line of the JSON Lines output. */
export interface Measure {
  suite: string;
  name: string;
  rep: number;
  value: number;
  unit: Unit;
}

export type RecordMeasure = (sample: Measure) => Promise<void>;

/** A goal on a figure's median: at most or at least `value`. */
export interface Goal {
  at: 'most' | 'least';
  value: number;
}

/** Linear-interpolated quantile of a non-empty list. */
export function quantile(xs: readonly number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  const pos = (s.length - 1) * q;
  const lo = Math.floor(pos);
  return s[lo]! + (s[Math.min(lo + 1, s.length - 1)]! - s[lo]!) * (pos - lo);
}

export const median = (xs: readonly number[]): number => quantile(xs, 0.5);

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Latencies (ms) of `n` sequential calls, after one discarded warm-up call (it pays for the workflow's cache entry). */
export async function timed(n: number, call: () => Promise<unknown>): Promise<number[]> {
  await call();
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    await call();
    out.push(performance.now() - t0);
  }
  return out;
}

/** What a closed-loop window measured: completions per second, and their latencies. */
export interface WindowResult {
  perSecond: number;
  latencies: number[];
}

/**
 * Closed-loop load: `lanes` callers run `op` back to back, starting new operations for `seconds`. Every operation
 * started counts, and the rate runs until the last one completes: when an operation takes longer than the window (a
 * pipeline at concurrency 32), counting only those that finish inside it would report nothing at all.
 */
export async function loadWindow(
  lanes: number,
  seconds: number,
  op: (lane: number, i: number) => Promise<unknown>,
): Promise<WindowResult> {
  const start = performance.now();
  const until = start + seconds * 1000;
  const latencies: number[] = [];
  await Promise.all(
    Array.from({ length: lanes }, async (_, lane) => {
      for (let i = 0; performance.now() < until; i++) {
        const t0 = performance.now();
        await op(lane, i);
        latencies.push(performance.now() - t0);
      }
    }),
  );
  return { perSecond: latencies.length / ((performance.now() - start) / 1000), latencies };
}

/** Runs `a` and `b` in ABAB order: `a` first on odd repetitions, `b` first on even ones. */
export async function interleaved<A, B>(rep: number, a: () => Promise<A>, b: () => Promise<B>): Promise<[A, B]> {
  if (rep % 2) {
    const x = await a();
    return [x, await b()];
  }
  const y = await b();
  return [await a(), y];
}

const fmt = (x: number): string =>
  Math.abs(x) >= 100 ? Math.round(x).toLocaleString('en-US') : x.toFixed(Math.abs(x) >= 10 ? 1 : 2);

/** The verdict of a median against its goal, or '' when the figure has none. */
export function verdict(value: number, goal: Goal | undefined): string {
  if (!goal) return '';
  const pass = goal.at === 'most' ? value <= goal.value : value >= goal.value;
  return `${goal.at === 'most' ? '≤' : '≥'} ${fmt(goal.value)}: ${pass ? 'pass' : 'FAIL'}`;
}

/** A Markdown row for a figure computed from others (a ratio of medians), with its verdict. */
export const derivedRow = (name: string, value: number, unit: Unit, goal?: Goal): string =>
  `| ${name} | ${fmt(value)} ${unit} | — | ${verdict(value, goal)} |`;

/** The Markdown table of one suite: median and min–max of each figure, in first-recorded order, and its verdict. */
export function measureTable(
  title: string,
  samples: readonly Measure[],
  goals: Readonly<Partial<Record<string, Goal>>> = {},
  derived: readonly string[] = [],
): string[] {
  if (samples.length === 0) return [];
  const names = [...new Set(samples.map((s) => s.name))];
  const row = (name: string) => {
    const of = samples.filter((s) => s.name === name);
    const xs = of.map((s) => s.value);
    const spread = xs.length > 1 ? `${fmt(Math.min(...xs))}–${fmt(Math.max(...xs))}` : '—';
    return `| ${name} | ${fmt(median(xs))} ${of[0]!.unit} | ${spread} | ${verdict(median(xs), goals[name])} |`;
  };
  return [`| ${title} | median | min–max | goal |`, '| --- | ---: | ---: | --- |', ...names.map(row), ...derived, ''];
}

/** Median of the samples named `name`, or NaN when there are none. */
export function medianOf(samples: readonly Measure[], name: string): number {
  const xs = samples.filter((s) => s.name === name).map((s) => s.value);
  return xs.length ? median(xs) : Number.NaN;
}
