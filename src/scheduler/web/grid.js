'use strict';
// A DAG's grid: runs as columns (oldest left), tasks as rows, each cell a task instance in
// Airflow's state colours; a cell links to that try's log.
sluice.nav('dags');
const $ = (id) => document.getElementById(id);
const dagId = decodeURIComponent(location.pathname.split('/')[3] || '');
$('dag-id').textContent = dagId;
document.title = 'sluice · ' + dagId;
const enc = encodeURIComponent;
const STATES = ['success', 'failed', 'running', 'queued', 'scheduled', 'up_for_retry',
  'upstream_failed', 'skipped', null];
$('legend').append(...STATES.map((s) => sluice.el('span', {},
  sluice.el('i', { class: 'cell ' + sluice.stateClass(s) }), ' ' + (s || 'no status'))));

$('trigger').addEventListener('click', async () => {
  try {
    await sluice.send('POST', '/api/v2/dags/' + enc(dagId) + '/dagRuns', { logical_date: null, conf: {} });
    refresh();
  } catch (e) { alert(e.message); }
});

function logHref(run, ti) {
  return '/ui/dags/' + enc(dagId) + '/runs/' + enc(run.dag_run_id) + '/tasks/' + enc(ti.task_id) +
    '/log?try=' + Math.max(ti.try_number || 1, 1);
}

async function refresh() {
  const dag = await sluice.get('/api/v2/dags/' + enc(dagId));
  $('dag-info').textContent = (dag.is_paused ? 'paused' : 'active') + ' · schedule ' +
    (dag.timetable_summary || 'None') + ' · owners ' + (dag.owners || []).join(', ') +
    (dag.next_dagrun_run_after ? ' · next run ' + sluice.time(dag.next_dagrun_run_after) : '');
  const r = await sluice.get('/api/v2/dags/' + enc(dagId) + '/dagRuns?limit=25&order_by=-run_after');
  const runs = (r.dag_runs || []).sort((a, b) => (a.run_after < b.run_after ? -1 : 1)).slice(-25);
  const tis = await Promise.all(runs.map((run) => sluice.get('/api/v2/dags/' + enc(dagId) + '/dagRuns/' +
    enc(run.dag_run_id) + '/taskInstances?limit=100').then((x) => x.task_instances || []).catch(() => [])));
  const tasks = [];
  for (const list of tis) for (const ti of list) if (!tasks.includes(ti.task_id)) tasks.push(ti.task_id);
  const head = sluice.el('tr', {}, sluice.el('th', {}, 'task'),
    runs.map((run) => sluice.el('th', { class: 'run', title: run.dag_run_id }, sluice.time(run.run_after).slice(5, 16))));
  const runRow = sluice.el('tr', {}, sluice.el('td', { class: 'task muted' }, 'run'),
    runs.map((run) => sluice.el('td', {}, sluice.el('span', {
      class: 'cell run-cell ' + sluice.stateClass(run.state), title: run.dag_run_id + ' · ' + run.state,
      'data-run': run.dag_run_id, 'data-state': run.state }))));
  const rows = tasks.map((task) => sluice.el('tr', {}, sluice.el('td', { class: 'task' }, task),
    runs.map((run, i) => {
      const ti = tis[i].find((t) => t.task_id === task);
      if (!ti) return sluice.el('td', {});
      return sluice.el('td', {}, sluice.el('a', { href: logHref(run, ti), class: 'ti-link',
        title: task + ' · ' + run.dag_run_id + ' · ' + (ti.state || 'no status') + ' · try ' + ti.try_number },
      sluice.el('span', { class: 'cell ti-cell ' + sluice.stateClass(ti.state), 'data-task': task,
        'data-run': run.dag_run_id, 'data-state': ti.state || 'none' })));
    })));
  $('grid').replaceChildren(sluice.el('thead', {}, head), sluice.el('tbody', {}, runRow, rows));
  if (!runs.length) $('grid').append(sluice.el('tr', {}, sluice.el('td', { class: 'muted' }, 'No runs yet: trigger one.')));
  $('runs').tBodies[0].replaceChildren(...runs.slice().reverse().map((run) => sluice.el('tr', {},
    sluice.el('td', { class: 'mono' }, run.dag_run_id),
    sluice.el('td', {}, sluice.el('span', { class: 'dot ' + sluice.stateClass(run.state) }), run.state),
    sluice.el('td', {}, run.run_type), sluice.el('td', {}, sluice.time(run.logical_date)),
    sluice.el('td', {}, sluice.time(run.start_date)), sluice.el('td', {}, sluice.time(run.end_date)),
    sluice.el('td', { class: 'mono' }, JSON.stringify(run.conf || {})))));
}
sluice.every(2000, refresh);
