import type { GoTool } from './go-tools.js';

/** Helm, for `helm lint` / `helm template` of deploy/helm/agent-hypervisor (test/deploy/helm.test.ts). */
export const helmTool: GoTool = {
  name: 'helm',
  module: 'helm.sh/helm/v3/cmd/helm',
  version: 'v3.19.0',
  binary: 'helm',
};
