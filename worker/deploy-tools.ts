import type { GoTool } from './go-tools.js';

/** Helm, for `helm lint` / `helm template` of deploy/helm/agent-hypervisor (test/deploy/helm.test.ts). */
export const helmTool: GoTool = {
  name: 'helm',
  module: 'helm.sh/helm/v3/cmd/helm',
  version: 'v3.19.0',
  binary: 'helm',
};

/**
 * kubeconform, which validates the chart's rendered manifests against the Kubernetes JSON schemas (test/deploy/
 * kubeconform.test.ts). It never downloads: the schemas are generated locally by worker/k8s-schemas.ts.
 */
export const kubeconformTool: GoTool = {
  name: 'kubeconform',
  module: 'github.com/yannh/kubeconform/cmd/kubeconform',
  version: 'v0.7.0',
  binary: 'kubeconform',
};
