import { z } from 'zod';
import { DEFAULT_TASK_QUEUE } from '../workflows/messages.js';
import { DatabaseEnv, parseEnv } from '../store/config.js';

const port = z.coerce.number().int().min(0).max(65535);
const optionalText = z
  .string()
  .optional()
  .transform((v) => (v ? v : undefined));

/**
 * The API server's environment, parsed once at start-up (like worker/config.ts). Temporal connection settings
 * (address, namespace, TLS, API key) come from the standard `TEMPORAL_*` variables through `temporalTarget()`.
 */
export const ApiEnv = DatabaseEnv.extend({
  TEMPORAL_TASK_QUEUE: z.string().min(1).default(DEFAULT_TASK_QUEUE),
  HV_API_PORT: port.default(8080),
  HV_API_HOST: z
    .union([z.ipv4(), z.ipv6(), z.hostname()], { error: 'HV_API_HOST must be an IP address or a host name' })
    .default('0.0.0.0'),
  /** JWTs (OIDC access tokens) are accepted when this is set: their signatures are checked against this JWKS. */
  HV_API_JWKS_URL: z.url().optional(),
  HV_API_JWT_ISSUER: optionalText,
  HV_API_JWT_AUDIENCE: optionalText,
  /** The claim that names the caller's DID (the API acts as that DID and no other). */
  HV_API_JWT_DID_CLAIM: z.string().min(1).default('sub'),
  /** The claim holding the caller's roles (a string or an array); `operator` among them grants the operator routes. */
  HV_API_JWT_ROLE_CLAIM: z.string().min(1).default('hv_roles'),
  /** Per-credential request limit at the edge: this many requests per window, then 429 with Retry-After. */
  HV_API_RATE_LIMIT_MAX: z.coerce.number().int().min(1).default(600),
  HV_API_RATE_LIMIT_WINDOW_MS: z.coerce.number().int().min(100).default(60_000),
  /** How often an open event stream (`GET /sessions/:id/events`) reads the audit store for new entries. */
  HV_API_EVENTS_POLL_MS: z.coerce.number().int().min(20).max(60_000).default(250),
  /** Comma-separated public key files trusted to sign audit commitments and checkpoints (as `hv audit verify`). */
  HV_AUDIT_PUBLIC_KEY_FILE: optionalText,
  /** A directory checkpoint sink to read checkpoints from when verifying (http sinks are not read back). */
  HV_CHECKPOINT_SINK: optionalText,
  /** The Temporal UI the dashboard links each workflow into (`/namespaces/<ns>/workflows/<id>` under it). */
  HV_TEMPORAL_UI_URL: z.url().default('http://localhost:8233'),
  TEMPORAL_NAMESPACE: z.string().min(1).default('default'),
});
export type ApiEnv = z.output<typeof ApiEnv>;

/** The configuration the server itself needs (tests build it directly). */
export interface ApiConfig {
  taskQueue: string;
  jwt?: { jwksUrl: string; issuer?: string; audience?: string; didClaim: string; roleClaim: string };
  rateLimit: { max: number; windowMs: number };
  eventsPollMs: number;
  audit: { publicKeyFiles: string[]; checkpointDir: string | null };
  /** The dashboard's Temporal UI links (default http://localhost:8233, namespace `default`). */
  temporalUi?: TemporalUiLinks;
}

/** Where the dashboard links a workflow: `${baseUrl}/namespaces/${namespace}/workflows/${workflowId}`. */
export interface TemporalUiLinks {
  baseUrl: string;
  namespace: string;
}

export function apiConfigFrom(env: ApiEnv): ApiConfig {
  const sink = env.HV_CHECKPOINT_SINK;
  return {
    taskQueue: env.TEMPORAL_TASK_QUEUE,
    jwt: env.HV_API_JWKS_URL
      ? {
          jwksUrl: env.HV_API_JWKS_URL,
          issuer: env.HV_API_JWT_ISSUER,
          audience: env.HV_API_JWT_AUDIENCE,
          didClaim: env.HV_API_JWT_DID_CLAIM,
          roleClaim: env.HV_API_JWT_ROLE_CLAIM,
        }
      : undefined,
    rateLimit: { max: env.HV_API_RATE_LIMIT_MAX, windowMs: env.HV_API_RATE_LIMIT_WINDOW_MS },
    eventsPollMs: env.HV_API_EVENTS_POLL_MS,
    audit: {
      publicKeyFiles: env.HV_AUDIT_PUBLIC_KEY_FILE?.split(',').filter(Boolean) ?? [],
      checkpointDir: sink && !/^https?:\/\//.test(sink) ? sink.replace(/^file:\/\//, '') : null,
    },
    temporalUi: { baseUrl: env.HV_TEMPORAL_UI_URL.replace(/\/+$/, ''), namespace: env.TEMPORAL_NAMESPACE },
  };
}

export const loadApiEnv = (env: NodeJS.ProcessEnv = process.env): ApiEnv => parseEnv(ApiEnv, env);
