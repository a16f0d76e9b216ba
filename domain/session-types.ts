import { z } from 'zod';
import { SessionConfig } from './session-config.js';

export const SessionState = z.enum(['created', 'handshaking', 'active', 'terminating', 'archived']);
export type SessionState = z.infer<typeof SessionState>;

export const SessionInput = z
  .object({
    sessionId: z.string().min(1).max(256),
    creatorDid: z.string().min(1).max(256),
    config: SessionConfig.prefault({}),
  })
  .strict();
/** What callers send (defaults not yet applied). */
export type SessionInput = z.input<typeof SessionInput>;

export const TerminateSessionInput = z
  .object({
    reason: z.string().min(1).max(256).default('requested'),
  })
  .strict();
export type TerminateSessionInput = z.input<typeof TerminateSessionInput>;

export interface SessionView {
  sessionId: string;
  creatorDid: string;
  state: SessionState;
  config: SessionConfig;
  createdAt: number;
}

export interface SessionCommitment {
  sessionId: string;
  state: SessionState;
  reason: string;
  terminatedAt: number;
}
