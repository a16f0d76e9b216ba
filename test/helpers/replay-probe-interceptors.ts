/**
 * Test-only workflow interceptors (bundled by `replay-probe.ts`): every activity a run schedules and every signal it
 * sends to another workflow is reported, with its input, to the `probe` sink, during replay too. A replay that gives
 * the same commands but other inputs (an audit batch with other timestamps, so other hashes) shows up here.
 */
import * as wf from '@temporalio/workflow';

export interface ProbeSinks extends wf.Sinks {
  probe: { command(kind: 'activity' | 'signal', name: string, args: string): void };
}

const { probe } = wf.proxySinks<ProbeSinks>();

class ProbeOutbound implements wf.WorkflowOutboundCallsInterceptor {
  scheduleActivity(
    input: wf.ActivityInput,
    next: wf.Next<wf.WorkflowOutboundCallsInterceptor, 'scheduleActivity'>,
  ): Promise<unknown> {
    probe.command('activity', input.activityType, JSON.stringify(input.args));
    return next(input);
  }

  signalWorkflow(
    input: wf.SignalWorkflowInput,
    next: wf.Next<wf.WorkflowOutboundCallsInterceptor, 'signalWorkflow'>,
  ): Promise<void> {
    probe.command('signal', input.signalName, JSON.stringify(input.args));
    return next(input);
  }
}

export const interceptors: wf.WorkflowInterceptorsFactory = () => ({ outbound: [new ProbeOutbound()] });
