const DAY_MS = 86_400_000;

/** The instant before which audit payloads are purged: `retentionDays` whole days before `nowMs`. */
export const retentionCutoffMs = (nowMs: number, retentionDays: number): number => nowMs - retentionDays * DAY_MS;
