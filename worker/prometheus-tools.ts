import { provisionGoTool, type GoTool, type GoToolOptions } from './go-tools.js';

/**
 * Prometheus and promtool, built with `go install` at one pinned version (v0.316.0 is Prometheus 3.16's Go module
 * tag) and cached like the Temporal CLI. Only the tests use them: they check the dashboard's queries and the alert
 * rules in `deploy/` against a real Prometheus scraping a real worker. Apache-2.0, not AGPL.
 */
const PROMETHEUS_VERSION = 'v0.316.0';
const hint = 'Install Go >= 1.25 so the tests can build Prometheus, or run `npm run prometheus:provision` once.';

export const PROMETHEUS: GoTool = {
  name: 'prometheus',
  module: 'github.com/prometheus/prometheus/cmd/prometheus',
  version: PROMETHEUS_VERSION,
  binary: 'prometheus',
  hint,
};
export const PROMTOOL: GoTool = {
  name: 'promtool',
  module: 'github.com/prometheus/prometheus/cmd/promtool',
  version: PROMETHEUS_VERSION,
  binary: 'promtool',
  hint,
};

/** Both binaries, built first if needed (promtool reuses Prometheus's build cache, so the second is quick). */
export async function provisionPrometheus(
  options: GoToolOptions = {},
): Promise<{ prometheus: string; promtool: string }> {
  const prometheus = await provisionGoTool(PROMETHEUS, options);
  const promtool = await provisionGoTool(PROMTOOL, options);
  return { prometheus, promtool };
}
