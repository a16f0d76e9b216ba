import { ApplicationFailure } from '@temporalio/common';
import { Context } from '@temporalio/activity';
import type { Json } from '../domain/audit-chain.js';
import { StepRejectedType, type StepInvocation } from '../domain/saga-types.js';

/** Code that performs (and undoes) one action, registered on a worker by action id. */
export interface StepHandler {
  execute: (invocation: StepInvocation, signal: AbortSignal) => Promise<Json | void>;
  undo?: (invocation: StepInvocation, signal: AbortSignal) => Promise<Json | void>;
}
export type StepHandlers = Record<string, StepHandler>;

export interface StepDeps {
  handlers?: StepHandlers;
  /** Base URL for relative `execute_api` / `undo_api` paths (`HV_STEP_BASE_URL`). */
  stepBaseUrl?: string | null;
}

const HEARTBEAT_EVERY_MS = 1000;

/**
 * The step executor. Runs on the hypervisor's worker, or on an agent's own worker (task queue) with that agent's
 * handlers: `createStepActivities({ handlers })`. Resolution order: a handler registered for the action, then the
 * step's HTTP API. It heartbeats while the step runs, so a dead worker is noticed within the heartbeat timeout and a
 * cancelled step (straggler, kill) sees its AbortSignal fire.
 */
export function createStepActivities(deps: StepDeps) {
  return {
    async runSagaStep(invocation: StepInvocation): Promise<{ result: Json; attempt: number }> {
      const ctx = Context.current();
      const beat = setInterval(() => ctx.heartbeat(), HEARTBEAT_EVERY_MS);
      try {
        const handler = deps.handlers?.[invocation.actionId];
        if (handler) {
          const fn = invocation.mode === 'execute' ? handler.execute : handler.undo;
          if (!fn)
            throw ApplicationFailure.nonRetryable(
              `action ${invocation.actionId} has no undo handler`,
              StepRejectedType,
            );
          return { result: (await fn(invocation, ctx.cancellationSignal)) ?? null, attempt: ctx.info.attempt };
        }
        if (invocation.api)
          return {
            result: await callStepApi(deps.stepBaseUrl ?? null, invocation, ctx.cancellationSignal),
            attempt: ctx.info.attempt,
          };
        throw ApplicationFailure.nonRetryable(
          `no executor for action ${invocation.actionId}: register a handler for it or give the step an ` +
            (invocation.mode === 'execute' ? 'execute_api' : 'undo_api'),
          StepRejectedType,
        );
      } finally {
        clearInterval(beat);
      }
    },
  };
}

/**
 * POSTs the invocation as JSON to the step's API with an `Idempotency-Key` header. 2xx is success (the JSON body, if
 * any, is the result); 4xx other than 408/429 is a rejection that retrying cannot fix; anything else is retried.
 */
async function callStepApi(baseUrl: string | null, invocation: StepInvocation, signal: AbortSignal): Promise<Json> {
  const absolute = /^https?:\/\//.test(invocation.api);
  if (!absolute && !baseUrl)
    throw ApplicationFailure.nonRetryable(
      `step ${invocation.stepId} calls ${invocation.api} but the worker has no HV_STEP_BASE_URL`,
      StepRejectedType,
    );
  const url = absolute ? invocation.api : new URL(invocation.api.replace(/^\//, ''), withSlash(baseUrl!)).toString();
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'idempotency-key': invocation.idempotencyKey },
    body: JSON.stringify(invocation),
    signal,
  });
  const text = await res.text();
  if (res.ok) {
    if (!text) return null;
    try {
      return JSON.parse(text) as Json;
    } catch {
      return text;
    }
  }
  const message = `${invocation.mode} ${url} answered ${res.status}${text ? `: ${text.slice(0, 500)}` : ''}`;
  if (res.status >= 400 && res.status < 500 && res.status !== 408 && res.status !== 429)
    throw ApplicationFailure.nonRetryable(message, StepRejectedType, { status: res.status });
  throw new Error(message);
}

const withSlash = (base: string) => (base.endsWith('/') ? base : `${base}/`);
