import { provisionPrometheus } from './prometheus-tools.js';

/** `npm run prometheus:provision`: builds Prometheus and promtool into the cache if they are not there. */
provisionPrometheus({ log: (line) => console.log(`[prometheus] ${line}`) })
  .then(({ prometheus, promtool }) => console.log(`[prometheus] ${prometheus}\n[prometheus] ${promtool}`))
  .catch((err: unknown) => {
    console.error(`[prometheus] ${(err as Error).message}`);
    process.exit(1);
  });
