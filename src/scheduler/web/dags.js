'use strict';
sluice.nav('dags');
const $ = (id) => document.getElementById(id);
const STATES = ['success', 'failed', 'running', 'queued'];
$('legend').append(...STATES.map((s) => sluice.el('span', {},
  sluice.el('i', { class: 'dot ' + sluice.stateClass(s) }), s)));

let triggering = null;
$('trigger-form').addEventListener('submit', async (ev) => {
  if (ev.submitter && ev.submitter.value !== 'go') return;
  ev.preventDefault();
  let conf;
  try {
    conf = JSON.parse($('trigger-conf').value || '{}');
    if (typeof conf !== 'object' || Array.isArray(conf) || conf === null) throw new Error('not an object');
  } catch (e) {
    $('trigger-msg').textContent = 'conf must be a JSON object: ' + e.message;
    return;
  }
  try {
    await sluice.send('POST', '/api/v2/dags/' + encodeURIComponent(triggering) + '/dagRuns',
      { logical_date: null, conf });
    $('trigger-dialog').close();
    refresh();
  } catch (e) {
    $('trigger-msg').textContent = e.message;
  }
});

async function lastRuns(dagId) {
  const r = await sluice.get('/api/v2/dags/' + encodeURIComponent(dagId) +
    '/dagRuns?limit=10&order_by=-run_after');
  const runs = r.dag_runs || [];
  runs.sort((a, b) => (a.run_after < b.run_after ? 1 : -1));
  return runs.slice(0, 10).reverse();
}

function row(dag, runs) {
  const toggle = sluice.el('input', { type: 'checkbox', 'data-dag': dag.dag_id, class: 'pause-toggle',
    checked: !dag.is_paused });
  toggle.addEventListener('change', async () => {
    toggle.disabled = true;
    try {
      await sluice.send('PATCH', '/api/v2/dags/' + encodeURIComponent(dag.dag_id) +
        '?update_mask=is_paused', { is_paused: !toggle.checked });
    } catch (e) {
      alert(e.message);
    }
    toggle.disabled = false;
    refresh();
  });
  const dots = runs.map((r) => sluice.el('a', {
    href: '/ui/dags/' + encodeURIComponent(dag.dag_id),
    title: r.dag_run_id + ' · ' + r.state,
  }, sluice.el('span', { class: 'dot run-dot ' + sluice.stateClass(r.state), 'data-state': r.state })));
  const owners = (dag.owners || []).join(', ');
  const next = dag.next_dagrun_run_after || dag.next_dagrun_logical_date;
  return sluice.el('tr', { 'data-dag': dag.dag_id },
    sluice.el('td', {}, sluice.el('label', { class: 'switch', title: dag.is_paused ? 'paused' : 'active' },
      toggle, sluice.el('span'))),
    sluice.el('td', {}, sluice.el('a', { href: '/ui/dags/' + encodeURIComponent(dag.dag_id), class: 'dag-link' },
      dag.dag_id), dag.has_import_errors ? sluice.el('span', { class: 'error' }, ' (import error)') : null),
    sluice.el('td', {}, owners),
    sluice.el('td', { class: 'mono' }, dag.timetable_summary || 'None'),
    sluice.el('td', {}, dots.length ? dots : sluice.el('span', { class: 'muted' }, 'no runs yet')),
    sluice.el('td', {}, next ? sluice.time(next) : sluice.el('span', { class: 'muted' }, '–')),
    sluice.el('td', {}, sluice.el('button', { class: 'trigger', 'data-dag': dag.dag_id, onclick: () => {
      triggering = dag.dag_id;
      $('trigger-dag').textContent = dag.dag_id;
      $('trigger-msg').textContent = '';
      $('trigger-dialog').showModal();
    } }, '▶ Trigger')));
}

async function refresh() {
  const r = await sluice.get('/api/v2/dags?limit=100');
  const dags = r.dags || [];
  const rows = await Promise.all(dags.map(async (d) => row(d, await lastRuns(d.dag_id).catch(() => []))));
  const body = $('dags').tBodies[0];
  body.replaceChildren(...rows);
  if (!dags.length) body.append(sluice.el('tr', {}, sluice.el('td', { colspan: 7, class: 'muted' }, 'No DAGs.')));
  const ie = await sluice.get('/api/v2/importErrors?limit=100').catch(() => ({ import_errors: [] }));
  const box = $('import-errors');
  box.replaceChildren();
  if ((ie.import_errors || []).length) {
    box.append(sluice.el('div', { class: 'panel' }, sluice.el('h2', { class: 'error' },
      ie.import_errors.length + ' import error(s)'),
    ie.import_errors.map((e) => sluice.el('div', {}, sluice.el('b', {}, e.filename),
      sluice.el('pre', { class: 'mono error' }, e.stack_trace)))));
  }
}
sluice.every(3000, refresh);
