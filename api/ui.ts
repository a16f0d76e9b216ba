import type { TemporalUiLinks } from './config.js';
import type { Api } from './routes/index.js';
import { dashboardPage } from './ui/page.js';

export const DEFAULT_TEMPORAL_UI: TemporalUiLinks = { baseUrl: 'http://localhost:8233', namespace: 'default' };

/**
 * The governance dashboard (`/ui`, DESIGN §15.5): one static HTML document with a small script that calls this API
 * with the key the operator types in (kept in the tab's sessionStorage, sent as a bearer credential). The page
 * carries no data but the Temporal UI address, so it is served without a credential; everything it shows comes
 * from the authenticated JSON routes, and the live stream is read with fetch (EventSource cannot send a credential).
 */
export function registerUiRoute(api: Api, temporalUi: TemporalUiLinks = DEFAULT_TEMPORAL_UI): void {
  const page = dashboardPage(temporalUi);
  api.get('/ui', { schema: { hide: true }, config: { public: true } }, (_req, reply) =>
    reply
      .type('text/html; charset=utf-8')
      .header('content-security-policy', "default-src 'self'; script-src 'unsafe-inline'; style-src 'unsafe-inline'")
      .send(page),
  );
}
