import type { TemporalUiLinks } from '../config.js';
import { DASHBOARD_SCRIPT } from './script.js';

const attr = (v: string) =>
  v.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

/** The dashboard's HTML and CSS; the only data in it is the Temporal UI address the script builds links with. */
export const dashboardPage = (temporalUi: TemporalUiLinks): string => `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Agent Hypervisor</title>
<style>
  body { font: 14px/1.4 system-ui, sans-serif; margin: 0; color: #1d2433; }
  header { background: #1d2433; color: #fff; padding: 8px 16px; display: flex; gap: 12px; align-items: center; }
  header h1 { font-size: 16px; margin: 0 12px 0 0; }
  main { display: grid; grid-template-columns: 300px 1fr; gap: 16px; padding: 16px; }
  h2 { font-size: 17px; } h3 { font-size: 15px; margin: 18px 0 6px; }
  table { border-collapse: collapse; width: 100%; }
  th, td { text-align: left; padding: 3px 6px; border-bottom: 1px solid #e3e6ee; vertical-align: top; }
  tr.sel, li.sel { background: #eef3ff; }
  ul { list-style: none; padding: 0; margin: 0; }
  li { padding: 4px 6px; cursor: pointer; border-bottom: 1px solid #e3e6ee; font-family: monospace; }
  .killed, .failed, .blocked { color: #b3261e; font-weight: 600; }
  .denied { color: #b3261e; }
  .ok { color: #1b6e2e; font-weight: 600; }
  .compensated { color: #8a5a00; }
  .bar { height: 10px; background: #4c6ef5; min-width: 2px; }
  .bar.compensated { background: #e8a33d; } .bar.failed { background: #b3261e; }
  .track { position: relative; width: 240px; background: #f0f1f5; }
  .small { font-size: 12px; color: #5b6275; }
  #events { font-family: monospace; font-size: 12px; max-height: 300px; overflow-y: auto; background: #f6f7fa; }
  #error { color: #ffb4ab; }
  header a, a { color: #3451c7; }
</style>
</head>
<body data-temporal-ui="${attr(temporalUi.baseUrl)}" data-namespace="${attr(temporalUi.namespace)}">
<header>
  <h1>Agent Hypervisor</h1>
  <label>API key <input id="key" type="password" size="48" placeholder="hvk_… (operator or agent)"></label>
  <button id="connect">Connect</button>
  <span id="error"></span>
</header>
<main>
  <section><h2>Sessions</h2><ul id="sessions"></ul></section>
  <section id="session">
    <h2 id="title">Select a session</h2>
    <div id="summary"></div>
    <h3>Participants</h3>
    <table><thead><tr><th>agent</th><th>status</th><th>ring</th><th>effective</th><th>eff-score</th><th>elevation</th><th></th></tr></thead>
    <tbody id="participants"></tbody></table>
    <h3>Locks</h3><table><tbody id="locks"></tbody></table>
    <h3>Kill switch</h3>
    <table><thead><tr><th>agent</th><th>state</th><th>deny rate</th><th></th></tr></thead><tbody id="killswitch"></tbody></table>
    <h3>Liability</h3>
    <table><thead><tr><th>agent</th><th>σ</th><th>risk</th><th>standing</th><th>ledger (bonds, slashes)</th></tr></thead><tbody id="liability"></tbody></table>
    <h3>Sagas</h3>
    <table><thead><tr><th>saga</th><th>status</th><th></th></tr></thead><tbody id="sagas"></tbody></table>
    <div id="saga"></div>
    <h3>Audit</h3>
    <div><span id="audit"></span> <button id="verify">refresh and verify again</button></div>
    <h3>Live events</h3><div id="events"></div>
  </section>
</main>
<script>${DASHBOARD_SCRIPT}</script>
</body>
</html>
`;
