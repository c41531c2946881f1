'use strict';
// The pipeline, live: the scheduler samples every part's /metrics (and the store, and the
// topic's offsets) every second and keeps 15 minutes; this page asks for the new samples.
sluice.nav('pipeline');
const $ = (id) => document.getElementById(id);
const STAGES = { fetched: '#9333ea', produced: '#2563eb', consumed: '#0891b2', stored: '#16a34a', dead_lettered: '#dc2626' };
const charts = {
  rates: new LineChart($('c-rates'), { unit: '/s', colors: STAGES }),
  lag: new LineChart($('c-lag'), {}),
  lat: new LineChart($('c-lat'), { unit: 's', colors: { p50: '#2563eb', p99: '#ea580c' } }),
  rows: new LineChart($('c-rows'), { colors: { rows: '#16a34a' } }),
};
const points = [];
let since = 0, serverOffset = 0;

function keys(id, names, chart) {
  const box = $(id);
  const want = names.join(',');
  if (box.dataset.names === want) return;
  box.dataset.names = want;
  box.replaceChildren(...names.map((n, i) => sluice.el('span', {}, sluice.el('i', {
    style: 'background:' + (chart.opts.colors[n] || LineChart.palette[i % LineChart.palette.length]) }), n)));
}
const fmtLat = (v) => (v === null || v === undefined ? '–' : v >= 1 ? v.toFixed(2) + ' s' : (v * 1000).toFixed(1) + ' ms');

async function poll() {
  const r = await sluice.get('/ui/api/pipeline?since=' + since);
  serverOffset = r.now - Date.now();
  for (const p of r.points) points.push(p);
  if (r.points.length) since = r.points[r.points.length - 1].t;
  while (points.length && points[0].t < r.now - 15 * 60 * 1000) points.shift();
  const last = points[points.length - 1] || {};
  for (const s of Object.keys(STAGES)) charts.rates.set(s, points.map((p) => [p.t, p[s]]));
  const parts = new Set();
  for (const p of points) for (const k of Object.keys(p.lag || {})) parts.add(k);
  const partNames = [...parts].sort((a, b) => a - b);
  charts.lag.series = {};
  for (const k of partNames) charts.lag.set('partition ' + k, points.map((p) => [p.t, p.lag && k in p.lag ? p.lag[k] : NaN]));
  charts.lat.set('p50', points.map((p) => [p.t, p.p50 === null ? NaN : p.p50]));
  charts.lat.set('p99', points.map((p) => [p.t, p.p99 === null ? NaN : p.p99]));
  charts.rows.set('rows', points.map((p) => [p.t, p.rows === null ? NaN : p.rows]));
  keys('k-rates', Object.keys(STAGES), charts.rates);
  keys('k-lag', partNames.map((k) => 'partition ' + k), charts.lag);
  keys('k-lat', ['p50', 'p99'], charts.lat);
  keys('k-rows', ['rows'], charts.rows);
  $('rows').textContent = sluice.num(r.rows);
  $('store-name').textContent = r.store || '';
  $('stored-rate').textContent = sluice.num(Math.round(last.stored || 0));
  $('consumed-rate').textContent = sluice.num(Math.round(last.consumed || 0));
  $('dead-rate').textContent = sluice.num(Math.round(last.dead_lettered || 0));
  const lag = last.lag ? Object.values(last.lag).reduce((a, b) => a + b, 0) : null;
  $('lag-total').textContent = sluice.num(lag);
  $('p50').textContent = fmtLat(last.p50);
  $('p99').textContent = fmtLat(last.p99);
  $('targets').replaceChildren('Sources: ', ...(r.targets || []).map((t) => sluice.el('span', {
    class: 'badge ' + (t.up ? 'up' : 'down'), title: t.url }, t.name + (t.up ? ' up' : ' down')), ' '));
  draw();
}
function draw() {
  const now = Date.now() + serverOffset;
  for (const c of Object.values(charts)) c.draw(now);
}
window.addEventListener('resize', draw);

async function users() {
  const r = await sluice.get('/ui/api/users?limit=10');
  $('users').tBodies[0].replaceChildren(...(r.users || []).map((u) => sluice.el('tr', { class: 'user-row' },
    sluice.el('td', {}, (u.first_name || '') + ' ' + (u.last_name || '')),
    sluice.el('td', {}, u.email), sluice.el('td', { class: 'mono' }, u.username),
    sluice.el('td', { class: 'wrap' }, u.address), sluice.el('td', {}, sluice.time(u.registered_date)))));
  if (!(r.users || []).length) {
    $('users').tBodies[0].append(sluice.el('tr', {}, sluice.el('td', { colspan: 5, class: 'muted' }, r.error || 'No users stored yet.')));
  }
}
async function dead() {
  const r = await sluice.get('/ui/api/deadletters?limit=10');
  $('dead').tBodies[0].replaceChildren(...(r.messages || []).map((m) => sluice.el('tr', {},
    sluice.el('td', { class: 'mono' }, m.partition + '/' + m.offset),
    sluice.el('td', {}, sluice.time(m.timestamp)),
    sluice.el('td', { class: 'error' }, (m.headers || {}).error || ''),
    sluice.el('td', { class: 'mono' }, ((m.headers || {})['source.topic'] || '') + ' ' +
      ((m.headers || {})['source.partition'] || '') + '/' + ((m.headers || {})['source.offset'] || '')),
    sluice.el('td', { class: 'mono wrap' }, (m.value || '').slice(0, 200)))));
  if (!(r.messages || []).length) {
    $('dead').tBodies[0].append(sluice.el('tr', {}, sluice.el('td', { colspan: 5, class: 'muted' }, r.error || 'No dead letters.')));
  }
}
sluice.every(1000, poll);
sluice.every(2000, users);
sluice.every(5000, dead);
