import type { Api } from './routes/index.js';

/**
 * The governance dashboard's first page (`/ui`, DESIGN §15.5): one static HTML document with a small script that
 * calls this API with the key the operator types in (kept in the tab's sessionStorage, sent as a bearer credential).
 * The page itself carries no data, so it is served without a credential; everything it shows comes from the
 * authenticated JSON routes, and the live stream is read with fetch (EventSource cannot send a credential).
 */
export function registerUiRoute(api: Api): void {
  api.get('/ui', { schema: { hide: true }, config: { public: true } }, (_req, reply) =>
    reply
      .type('text/html; charset=utf-8')
      .header('content-security-policy', "default-src 'self'; script-src 'unsafe-inline'; style-src 'unsafe-inline'")
      .send(PAGE),
  );
}

const PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Agent Hypervisor</title>
<style>
  body { font: 14px/1.4 system-ui, sans-serif; margin: 0; color: #1d2433; }
  header { background: #1d2433; color: #fff; padding: 8px 16px; display: flex; gap: 12px; align-items: center; }
  header h1 { font-size: 16px; margin: 0 12px 0 0; }
  main { display: grid; grid-template-columns: 320px 1fr; gap: 16px; padding: 16px; }
  table { border-collapse: collapse; width: 100%; }
  th, td { text-align: left; padding: 3px 6px; border-bottom: 1px solid #e3e6ee; }
  tr.sel, li.sel { background: #eef3ff; }
  ul { list-style: none; padding: 0; margin: 0; }
  li { padding: 4px 6px; cursor: pointer; border-bottom: 1px solid #e3e6ee; font-family: monospace; }
  .killed { color: #b3261e; font-weight: 600; }
  .denied { color: #b3261e; }
  #events { font-family: monospace; font-size: 12px; max-height: 340px; overflow-y: auto; background: #f6f7fa; }
  #error { color: #b3261e; }
</style>
</head>
<body>
<header>
  <h1>Agent Hypervisor</h1>
  <label>API key <input id="key" type="password" size="48" placeholder="hvk_… (operator or agent)"></label>
  <button id="connect">Connect</button>
  <span id="error"></span>
</header>
<main>
  <section><h2>Sessions</h2><ul id="sessions"></ul></section>
  <section>
    <h2 id="title">Select a session</h2>
    <div id="summary"></div>
    <h3>Participants</h3>
    <table><thead><tr><th>agent</th><th>status</th><th>ring</th><th>effective</th><th>eff-score</th><th>elevation</th><th></th></tr></thead>
    <tbody id="participants"></tbody></table>
    <h3>Locks</h3><table><tbody id="locks"></tbody></table>
    <h3>Live events</h3><div id="events"></div>
  </section>
</main>
<script>
const $ = (id) => document.getElementById(id);
const text = (v) => String(v ?? '').replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]);
let current = null, stream = null;
$('key').value = sessionStorage.getItem('hv-key') ?? '';
async function api(method, path, body) {
  const res = await fetch(path, { method, headers: { authorization: 'Bearer ' + $('key').value, ...(body ? { 'content-type': 'application/json' } : {}) }, body: body ? JSON.stringify(body) : undefined });
  const data = await res.json();
  if (!res.ok) throw new Error(data.errorType + ': ' + data.detail);
  return data;
}
const show = (p) => p.catch((e) => { $('error').textContent = e.message; });
async function loadSessions() {
  sessionStorage.setItem('hv-key', $('key').value);
  $('error').textContent = '';
  const list = await api('GET', '/sessions?limit=50');
  $('sessions').innerHTML = list.map((s) => '<li data-id="' + text(s.sessionId) + '"' + (s.sessionId === current ? ' class="sel"' : '') + '>' + text(s.sessionId.slice(0, 18)) + ' · ' + text(s.status) + '</li>').join('');
}
async function loadSession(id) {
  const v = await api('GET', '/sessions/' + encodeURIComponent(id));
  $('title').textContent = 'Session ' + v.sessionId;
  $('summary').textContent = v.state + ' · created by ' + v.creatorDid + ' · ' + v.audit.entries + ' audit entries (' + v.audit.persistedSeq + ' persisted)';
  $('participants').innerHTML = v.participants.map((p) => '<tr class="' + (p.status === 'killed' ? 'killed' : '') + '"><td>' + text(p.agentDid) + '</td><td>' + text(p.status) + '</td><td>' + p.ring + '</td><td>' + p.effectiveRing + '</td><td>' + Number(p.effScore).toFixed(2) + '</td><td>' + text(p.elevation ? 'ring ' + p.elevation.toRing : '') + '</td><td>' + (p.status === 'active' ? '<button data-kill="' + text(p.agentDid) + '">kill</button>' : '') + '</td></tr>').join('');
  $('locks').innerHTML = v.locks.map((l) => '<tr><td>' + text(l.path) + '</td><td>' + text(l.intent) + '</td><td>' + text(l.agentDid) + '</td><td>' + text(l.status) + '</td></tr>').join('') || '<tr><td>none</td></tr>';
}
async function follow(id) {
  stream?.abort();
  stream = new AbortController();
  $('events').innerHTML = '';
  const res = await fetch('/sessions/' + encodeURIComponent(id) + '/events', { headers: { authorization: 'Bearer ' + $('key').value }, signal: stream.signal });
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value;
    let cut;
    while ((cut = buffer.indexOf('\\n\\n')) >= 0) {
      const frame = buffer.slice(0, cut); buffer = buffer.slice(cut + 2);
      const data = frame.split('\\n').find((l) => l.startsWith('data: '));
      if (!data) continue;
      const e = JSON.parse(data.slice(6));
      const p = e.payload ?? {};
      const denied = e.kind === 'decision' && p.allowed === false;
      const row = document.createElement('div');
      row.className = e.kind === 'kill' ? 'killed' : denied ? 'denied' : '';
      row.textContent = e.seq + ' ' + e.recordedAt.slice(11, 23) + ' ' + e.kind + ' ' + (e.agentDid ?? '') + (e.kind === 'decision' ? (p.allowed ? ' ALLOWED ' : ' DENIED ') + (p.actionId ?? '') : '');
      $('events').append(row);
      $('events').scrollTop = $('events').scrollHeight;
      if (id === current) show(loadSession(id));
    }
  }
}
$('connect').onclick = () => show(loadSessions());
$('sessions').onclick = (ev) => {
  const id = ev.target.closest('li')?.dataset.id;
  if (!id) return;
  current = id;
  show(loadSessions().then(() => loadSession(id)));
  show(follow(id));
};
$('participants').onclick = (ev) => {
  const did = ev.target.dataset?.kill;
  if (did && current) show(api('POST', '/sessions/' + encodeURIComponent(current) + '/kill', { agentDid: did, reason: 'manual', details: 'from the dashboard' }).then(() => loadSession(current)));
};
if ($('key').value) show(loadSessions());
</script>
</body>
</html>
`;
