/**
 * The dashboard's client script (plain browser JavaScript, no build step). All data goes into the DOM as text
 * (`el` sets textContent), never as HTML.
 */
export const DASHBOARD_SCRIPT = String.raw`
const $ = (id) => document.getElementById(id);
const el = (tag, { dataset, ...props } = {}, ...children) => {
  const node = Object.assign(document.createElement(tag), props);
  Object.assign(node.dataset, dataset);
  for (const c of children) node.append(c instanceof Node ? c : String(c ?? ''));
  return node;
};
const row = (cells, className = '') => el('tr', { className }, ...cells.map((c) => el('td', {}, c)));
const fill = (id, rows) => $(id).replaceChildren(...(rows.length ? rows : [row(['none'])]));
const ui = document.body.dataset;
const temporalLink = (workflowId) => el('a', { href: ui.temporalUi + '/namespaces/' + encodeURIComponent(ui.namespace) + '/workflows/' + encodeURIComponent(workflowId), target: '_blank', className: 'temporal' }, 'Temporal UI');
let current = null, stream = null, sagaIds = [], shownSaga = null, refreshing = null, dirty = false;
$('key').value = sessionStorage.getItem('hv-key') ?? '';
async function api(method, path, body) {
  const res = await fetch(path, { method, headers: { authorization: 'Bearer ' + $('key').value, ...(body ? { 'content-type': 'application/json' } : {}) }, body: body ? JSON.stringify(body) : undefined });
  const data = await res.json();
  if (!res.ok) throw new Error(data.errorType + ': ' + data.detail);
  return data;
}
const show = (p) => p.catch((e) => { $('error').textContent = e.message; });
const agentPath = (did, rest) => '/agents/' + encodeURIComponent(did) + '/' + rest;
async function loadSessions() {
  sessionStorage.setItem('hv-key', $('key').value);
  $('error').textContent = '';
  const list = await api('GET', '/sessions?limit=50');
  $('sessions').replaceChildren(...list.map((s) => el('li', { className: s.sessionId === current ? 'sel' : '', dataset: { id: s.sessionId } }, s.sessionId.slice(0, 18) + ' · ' + s.status)));
}
async function loadSession(id) {
  const v = await api('GET', '/sessions/' + encodeURIComponent(id));
  $('title').textContent = 'Session ' + v.sessionId;
  $('summary').replaceChildren(v.state + ' · created by ' + v.creatorDid + ' · ' + v.audit.entries + ' audit entries (' + v.audit.persistedSeq + ' persisted) · ', temporalLink('session:' + v.sessionId));
  fill('participants', v.participants.map((p) => row([p.agentDid, p.status, p.ring, p.effectiveRing, Number(p.effScore).toFixed(2), p.elevation ? 'ring ' + p.elevation.toRing : '', p.status === 'active' ? el('button', { dataset: { kill: p.agentDid } }, 'kill') : ''], p.status === 'killed' ? 'killed' : '')));
  fill('locks', v.locks.map((l) => row([l.path, l.intent, l.agentDid, l.status])));
  await Promise.all([loadAgents(v.participants.map((p) => p.agentDid)), loadSagas()]);
}
async function loadAgents(dids) {
  const agents = await Promise.all(dids.map(async (did) => {
    const [ks, standing, ledger] = await Promise.all([api('GET', agentPath(did, 'kill-switch')), api('GET', agentPath(did, 'standing')), api('GET', agentPath(did, 'ledger'))]);
    return { did, ks, standing, ledger };
  }));
  fill('killswitch', agents.map(({ did, ks }) => row([did, ks.blocked ? 'BLOCKED (' + ks.blocked.trigger + ': ' + ks.blocked.reason + ')' : ks.enabled ? 'armed' : 'disabled', ks.rate == null ? '–' : (ks.rate * 100).toFixed(0) + '% of ' + ks.windowCalls, ks.blocked ? el('button', { dataset: { unblock: did } }, 'unblock') : temporalLink('agent:' + did)], ks.blocked ? 'blocked' : '')));
  fill('liability', agents.map(({ did, standing, ledger }) => row([did, standing.sigma ?? 'as presented', Number(standing.riskScore).toFixed(2), standing.recommendation + (standing.blacklisted ? ' · blacklisted' : ''), el('ul', {}, ...ledger.map((e) => el('li', { className: 'small ledger' }, e.entryType + ' ' + e.severity + (e.relatedAgent ? ' ↔ ' + e.relatedAgent : '') + ' · ' + e.createdAt.slice(0, 19))))])));
}
async function loadSagas() {
  const sagas = await Promise.all(sagaIds.map((id) => api('GET', '/sagas/' + encodeURIComponent(id))));
  fill('sagas', sagas.map((s) => row([s.name + ' ' + s.sagaId, s.status, el('button', { dataset: { saga: s.sagaId } }, 'steps')], s.sagaId === shownSaga ? 'sel' : '')));
  const saga = sagas.find((s) => s.sagaId === shownSaga);
  if (saga) showSaga(saga);
}
function showSaga(s) {
  const end = Math.max(Date.now(), ...s.steps.map((st) => st.completedAtMs ?? 0)), span = Math.max(1, end - s.startedAtMs);
  const bar = (st) => {
    if (st.startedAtMs == null) return '';
    const left = ((st.startedAtMs - s.startedAtMs) / span) * 100, width = (((st.completedAtMs ?? end) - st.startedAtMs) / span) * 100;
    return el('div', { className: 'track' }, el('div', { className: 'bar ' + st.state, style: 'margin-left:' + left.toFixed(1) + '%;width:' + width.toFixed(1) + '%' }));
  };
  $('saga').replaceChildren(
    el('h4', {}, 'Saga ' + s.name + ' (' + s.sagaId + '): ' + s.status + (s.error ? ' · ' + s.error : '') + ' · ', temporalLink('saga:' + s.sagaId)),
    el('table', { id: 'saga-steps' }, el('thead', {}, row(['step', 'agent', 'state', 'attempts', 'timeline', 'error', 'compensation'])),
      el('tbody', {}, ...s.steps.map((st) => row([st.stepId, st.agentDid, st.state, st.attempts, bar(st), st.error ?? '', st.state === 'compensated' ? 'undone' : st.compensationError ?? ''], st.state)))),
  );
}
async function verify(id) {
  $('audit').textContent = 'verifying…';
  const r = await api('GET', '/sessions/' + encodeURIComponent(id) + '/audit/verify');
  $('audit').className = r.ok ? 'ok' : 'failed';
  $('audit').textContent = (r.ok ? 'verified' : 'NOT verified') + ' · ' + r.entries + ' entries up to seq ' + r.lastSeq + ' · ' + r.anchors.filter((a) => a.matches).length + '/' + r.anchors.length + ' anchors match' + (r.firstBad ? ' · first problem: ' + JSON.stringify(r.firstBad) : '');
}
/** Reloads the open session, one reload at a time: events arriving meanwhile ask for one more. */
function refresh() {
  if (refreshing) { dirty = true; return; }
  refreshing = show(loadSession(current)).finally(() => { refreshing = null; if (dirty) { dirty = false; refresh(); } });
}
function eventText(e) {
  const p = e.payload ?? {};
  const verdict = e.kind === 'decision' ? (p.allowed ? ' ALLOWED ' : ' DENIED ') + (p.actionId ?? '') : '';
  return e.seq + ' ' + e.recordedAt.slice(11, 23) + ' ' + e.kind + ' ' + (e.agentDid ?? '') + verdict;
}
async function follow(id) {
  stream?.abort();
  stream = new AbortController();
  $('events').replaceChildren();
  const res = await fetch('/sessions/' + encodeURIComponent(id) + '/events', { headers: { authorization: 'Bearer ' + $('key').value }, signal: stream.signal });
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value;
    let cut;
    while ((cut = buffer.indexOf('\n\n')) >= 0) {
      const frame = buffer.slice(0, cut); buffer = buffer.slice(cut + 2);
      const data = frame.split('\n').find((l) => l.startsWith('data: '));
      if (!data) continue;
      const e = JSON.parse(data.slice(6));
      if (e.kind.startsWith('saga_') && e.payload?.sagaId && !sagaIds.includes(e.payload.sagaId)) sagaIds.push(e.payload.sagaId);
      const denied = e.kind === 'decision' && e.payload?.allowed === false;
      $('events').append(el('div', { className: 'event ' + (e.kind === 'kill' ? 'killed' : denied ? 'denied' : '') }, eventText(e)));
      $('events').scrollTop = $('events').scrollHeight;
      if (id === current) refresh();
    }
  }
}
$('connect').onclick = () => show(loadSessions());
$('sessions').onclick = (ev) => {
  const id = ev.target.closest('li')?.dataset.id;
  if (!id) return;
  current = id; sagaIds = []; shownSaga = null;
  $('saga').replaceChildren();
  show(loadSessions().then(() => loadSession(id)));
  show(verify(id));
  show(follow(id));
};
$('verify').onclick = () => { if (current) { refresh(); show(verify(current)); } };
$('participants').onclick = (ev) => {
  const did = ev.target.dataset?.kill;
  if (did && current) show(api('POST', '/sessions/' + encodeURIComponent(current) + '/kill', { agentDid: did, reason: 'manual', details: 'from the dashboard' }).then(refresh));
};
$('killswitch').onclick = (ev) => {
  const did = ev.target.dataset?.unblock;
  if (did) show(api('POST', agentPath(did, 'kill-switch/unblock'), { reason: 'unblocked from the dashboard' }).then(refresh));
};
$('sagas').onclick = (ev) => {
  const id = ev.target.dataset?.saga;
  if (id) { shownSaga = id; refresh(); }
};
if ($('key').value) show(loadSessions());
`;
