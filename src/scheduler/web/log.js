'use strict';
// A task try's log, tailed live while the try runs (re-read every second until it ends).
sluice.nav('dags');
const $ = (id) => document.getElementById(id);
const parts = location.pathname.split('/').map(decodeURIComponent);
// /ui/dags/{dag}/runs/{run}/tasks/{task}/log
const dagId = parts[3], runId = parts[5], taskId = parts[7];
const enc = encodeURIComponent;
const tiUrl = '/api/v2/dags/' + enc(dagId) + '/dagRuns/' + enc(runId) + '/taskInstances/' + enc(taskId);
$('dag-link').textContent = dagId;
$('dag-link').href = '/ui/dags/' + enc(dagId);
$('title').textContent = runId + ' / ' + taskId;
let tryNumber = Number(new URLSearchParams(location.search).get('try') || 1);
const TERMINAL = ['success', 'failed', 'upstream_failed', 'skipped', 'removed'];

$('try').addEventListener('change', () => {
  tryNumber = Number($('try').value);
  history.replaceState(null, '', location.pathname + '?try=' + tryNumber);
  start();
});

function text(content) {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return JSON.stringify(content);
  return content.map((c) => (typeof c === 'string' ? c : c.event !== undefined ?
    (c.timestamp ? c.timestamp + ' ' : '') + (c.level ? c.level.toUpperCase() + ' ' : '') + c.event :
    JSON.stringify(c))).join('\n');
}

let stop = null;
function start() {
  if (stop) stop();
  let done = false;
  stop = sluice.every(1000, async () => {
    if (done) return;
    const ti = await sluice.get(tiUrl);
    $('state').textContent = ti.state || 'no status';
    $('state-dot').className = 'dot ' + sluice.stateClass(ti.state);
    $('times').textContent = (ti.start_date ? 'started ' + sluice.time(ti.start_date) : '') +
      (ti.end_date ? ' · ended ' + sluice.time(ti.end_date) : '') +
      (ti.duration !== null && ti.duration !== undefined ? ' · ' + Number(ti.duration).toFixed(1) + ' s' : '');
    const tries = Math.max(ti.try_number || 1, 1);
    if ($('try').options.length !== tries) {
      $('try').replaceChildren(...Array.from({ length: tries }, (_, i) =>
        sluice.el('option', { value: i + 1, selected: i + 1 === tryNumber }, i + 1)));
    }
    let body;
    try {
      body = await sluice.get(tiUrl + '/logs/' + tryNumber + '?full_content=true');
    } catch (e) {
      body = { content: ['(no log yet: ' + e.message + ')'] };
    }
    const pre = $('log');
    const atEnd = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 20;
    const t = text(body.content);
    if (pre.textContent !== t) {
      pre.textContent = t;
      if ($('follow').checked && atEnd) pre.scrollTop = pre.scrollHeight;
    }
    // Finished tries are read once more after they end, then the tail stops.
    if (TERMINAL.includes(ti.state) || tryNumber < tries) done = true;
  });
}
start();
