import { CARRY_BUDGET, jsonBytes } from '../limits.js';
import type { BreachWindow } from '../breach-detector.js';
import type { KillSwitchCopy } from '../kill-switch.js';
import type { SessionData } from '../session-types.js';
import { event, type Change } from './context.js';

interface Window {
  kind: 'breach' | 'killSwitch';
  agentDid: string;
  events: readonly unknown[];
  bytes: number;
}

/**
 * Keeps the session's breach windows and kill-switch copies within `CARRY_BUDGET.windowsBytes` for continue-as-new:
 * past it, the largest window loses its oldest half, again until they fit, and the loss is recorded. Breach rates
 * then count fewer old calls and a copy may miss a crossing the identity still sees (the identity stays the
 * authority); both only happen when a session carries more calls per window than its budget holds.
 */
export function trimWindows(data: SessionData, budget: number = CARRY_BUDGET.windowsBytes): Change {
  const windows: Window[] = [
    ...Object.entries(data.breachWindows).map(([agentDid, w]) => ({
      kind: 'breach' as const,
      agentDid,
      events: w.events,
    })),
    ...Object.entries(data.killSwitches ?? {}).map(([agentDid, c]) => ({
      kind: 'killSwitch' as const,
      agentDid,
      events: c.events,
    })),
  ].map((w) => ({ ...w, bytes: jsonBytes(w.events) }));
  const before = windows.reduce((sum, w) => sum + w.bytes, 0);
  if (before <= budget) return { data, events: [] };
  let total = before;
  const dropped = { breach: 0, killSwitch: 0 };
  while (total > budget) {
    const largest = windows.reduce((a, b) => (b.bytes > a.bytes ? b : a));
    if (largest.events.length === 0) break;
    const cut = Math.ceil(largest.events.length / 2);
    largest.events = largest.events.slice(cut);
    dropped[largest.kind] += cut;
    const bytes = jsonBytes(largest.events);
    total -= largest.bytes - bytes;
    largest.bytes = bytes;
  }
  const breachWindows = { ...data.breachWindows };
  const killSwitches = { ...data.killSwitches };
  for (const w of windows) {
    if (w.kind === 'breach' && w.events !== breachWindows[w.agentDid]!.events)
      breachWindows[w.agentDid] = { ...breachWindows[w.agentDid]!, events: w.events as BreachWindow['events'] };
    if (w.kind === 'killSwitch' && w.events !== killSwitches[w.agentDid]!.events)
      killSwitches[w.agentDid] = { ...killSwitches[w.agentDid]!, events: w.events as KillSwitchCopy['events'] };
  }
  return {
    data: { ...data, breachWindows, ...(data.killSwitches ? { killSwitches } : {}) },
    events: [
      event('windows_trimmed', null, {
        breachEventsDropped: dropped.breach,
        killSwitchEventsDropped: dropped.killSwitch,
        bytesBefore: before,
        bytesAfter: total,
        budget,
      }),
    ],
  };
}
