import { z } from 'zod';
import { identifier } from './identifiers.js';
import type { Ring } from './rings.js';

export const MAX_UNDO_WINDOW_SECONDS = 86_400;
export const MAX_API_PATH_LENGTH = 2048;

export const Reversibility = z.enum(['full', 'partial', 'none']);
export type Reversibility = z.infer<typeof Reversibility>;

/** Midpoints of the reference's risk-weight ranges (docs/DESIGN.md §R1): full (0.1, 0.3), partial (0.5, 0.8), none (0.9, 1.0). */
export const RISK_WEIGHT: Record<Reversibility, number> = { full: 0.2, partial: 0.65, none: 0.95 };

const apiPath = (field: string) =>
  z
    .string()
    .trim()
    .min(1, `${field} must not be empty`)
    .max(MAX_API_PATH_LENGTH, `${field} exceeds maximum length of ${MAX_API_PATH_LENGTH} characters`);

/**
 * An action an agent declares in its manifest when it joins. Reversibility arrives as a plain string from JSON and is
 * validated as such (the reference crashes on it).
 */
export const ActionDescriptor = z
  .object({
    actionId: identifier('actionId'),
    name: z
      .string()
      .trim()
      .min(1, 'name must be a non-empty string')
      .max(256, 'name exceeds maximum length of 256 characters'),
    executeApi: apiPath('executeApi').optional(),
    undoApi: apiPath('undoApi').optional(),
    reversibility: Reversibility.default('none'),
    undoWindowSeconds: z
      .number()
      .int()
      .min(0, 'undoWindowSeconds must not be negative')
      .max(MAX_UNDO_WINDOW_SECONDS, `undoWindowSeconds must not exceed ${MAX_UNDO_WINDOW_SECONDS} (24 hours)`)
      .default(0),
    isReadOnly: z.boolean().default(false),
    isAdmin: z.boolean().default(false),
  })
  .strict();
export type ActionDescriptor = z.infer<typeof ActionDescriptor>;
export type ActionDescriptorInput = z.input<typeof ActionDescriptor>;

/** Bounded so a manifest fits comfortably in one update payload and in the session's carried state. */
export const MAX_ACTIONS_PER_MANIFEST = 200;
export const ActionManifest = z
  .array(ActionDescriptor)
  .max(MAX_ACTIONS_PER_MANIFEST, `a manifest may declare at most ${MAX_ACTIONS_PER_MANIFEST} actions`)
  .superRefine((actions, ctx) => {
    const seen = new Set<string>();
    actions.forEach((action, index) => {
      if (seen.has(action.actionId)) {
        ctx.addIssue({ code: 'custom', path: [index, 'actionId'], message: `duplicate actionId ${action.actionId}` });
      }
      seen.add(action.actionId);
    });
  });

/**
 * The ring an action requires: admin → 0; irreversible and not read-only → 1; read-only → 3; otherwise 2.
 * Pure function of the descriptor: there is no cache to collide on (the reference's W-RING-1, docs/DESIGN.md §R1).
 */
export function requiredRing(action: Pick<ActionDescriptor, 'isAdmin' | 'isReadOnly' | 'reversibility'>): Ring {
  if (action.isAdmin) return 0;
  if (action.reversibility === 'none' && !action.isReadOnly) return 1;
  if (action.isReadOnly) return 3;
  return 2;
}
