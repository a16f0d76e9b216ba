import { stripVTControlCharacters } from 'node:util';
import pc from 'picocolors';

/**
 * How `hv` prints. Humans get summaries and tables (colour only on a terminal); `--json` / `-o json` prints the exact
 * objects the client returned, for scripts. The mode is set once per run, from the global options, before the action.
 */
let jsonMode = false;

export const setJsonMode = (on: boolean): void => {
  jsonMode = on;
};
export const isJsonMode = (): boolean => jsonMode;

/** `NO_COLOR` (any non-empty value) wins, then `FORCE_COLOR` (not `0`), then whether stdout is a terminal. */
export function colourEnabled(env: NodeJS.ProcessEnv = process.env, isTty = process.stdout.isTTY === true): boolean {
  if (env.NO_COLOR) return false;
  if (env.FORCE_COLOR !== undefined && env.FORCE_COLOR !== '') return env.FORCE_COLOR !== '0';
  return isTty;
}

export const c = pc.createColors(colourEnabled());

/** Pretty JSON for `--json`. */
export const printJson = (value: unknown): void => console.log(JSON.stringify(value, null, 2));

/** Prints `value` as JSON in `--json` mode, else the human rendering. */
export function emit<T>(value: T, human: (value: T) => string = describeValue): void {
  if (jsonMode) printJson(value);
  else console.log(human(value));
}

const width = (text: string): number => stripVTControlCharacters(text).length;

/** A left-aligned table with a dimmed header; cells may carry colour (widths ignore the escape codes). */
export function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(width(h), ...rows.map((r) => width(r[i] ?? ''))));
  const line = (cells: string[]) =>
    cells
      .map((cell, i) => (i === cells.length - 1 ? cell : cell + ' '.repeat((widths[i] ?? 0) - width(cell))))
      .join('  ')
      .trimEnd();
  return [c.dim(line(header)), ...rows.map(line)].join('\n');
}

/** A scalar as text; objects and arrays compact JSON. */
export function scalar(value: unknown): string {
  if (value === null || value === undefined) return '—';
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') return String(value);
  return JSON.stringify(value) ?? '—';
}

/** A field named `…AtMs` holding a number is a time: print it as one. */
export const timeOrScalar = (key: string, value: unknown): string =>
  key.endsWith('AtMs') && typeof value === 'number' ? when(value) : scalar(value);

/** The fallback rendering of a command's answer: one `key: value` line per field (a scalar prints as itself). */
export function describeValue(value: unknown): string {
  if (Array.isArray(value)) return value.length === 0 ? c.dim('(none)') : value.map(scalar).join('\n');
  if (value === null || typeof value !== 'object') return scalar(value);
  const entries = Object.entries(value as Record<string, unknown>);
  const keyWidth = Math.max(0, ...entries.map(([k]) => k.length));
  return entries.map(([k, v]) => `${c.dim(`${k}:`.padEnd(keyWidth + 1))} ${timeOrScalar(k, v)}`).join('\n');
}

/** Milliseconds since the epoch as `YYYY-MM-DD HH:MM:SS` UTC. */
export const when = (ms: number | null | undefined): string =>
  ms === null || ms === undefined ? '—' : new Date(ms).toISOString().replace('T', ' ').slice(0, 19);
