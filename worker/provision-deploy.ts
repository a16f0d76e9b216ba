import { helmTool, kubeconformTool } from './deploy-tools.js';
import { provisionGoTool } from './go-tools.js';
import { provisionK8sSchemas } from './k8s-schemas.js';

/** `npm run deploy:provision`: helm, kubeconform and the local Kubernetes schemas, built or made once and cached. */
const log = (line: string) => console.log(`[deploy-tools] ${line}`);
Promise.all([provisionGoTool(helmTool, { log }), provisionGoTool(kubeconformTool, { log }), provisionK8sSchemas()])
  .then((paths) => paths.forEach((p) => log(p)))
  .catch((err: unknown) => {
    log((err as Error).message);
    process.exit(1);
  });
