'use strict';
// A task try's log, tailed live while the try runs: every second it asks for the bytes after
// those it has (the API's continuation token is a byte offset; text/plain gives them raw).
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

let stop = null, generation = 0;
function start() {
  if (stop) stop();
  const gen = ++generation; // an answer for an earlier try shown must not land in this one
  let done = false, offset = 0, endReads = 0;
  const decoder = new TextDecoder('utf-8');
  $('log').textContent = '';
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
    const r = await fetch(tiUrl + '/logs/' + tryNumber + '?token=' + offset,
      { credentials: 'same-origin', headers: { Accept: 'text/plain' } });
    if (r.status === 401) return sluice.check(r);
    if (!r.ok) return;
    const bytes = await r.arrayBuffer();
    if (gen !== generation) return;
    if (bytes.byteLength) {
      offset += bytes.byteLength;
      const pre = $('log');
      const atEnd = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 20;
      pre.append(decoder.decode(bytes, { stream: true }));
      if ($('follow').checked && atEnd) pre.scrollTop = pre.scrollHeight;
    }
    // A finished try is read twice more after its end was seen, then the tail stops.
    if (TERMINAL.includes(ti.state) || tryNumber < tries) endReads++;
    if (endReads >= 2) done = true;
  });
}
start();
