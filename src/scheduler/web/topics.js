'use strict';
// Topics: partitions, offsets, sizes, retention; a message browser (latest N, or from an offset).
sluice.nav('topics');
const $ = (id) => document.getElementById(id);
let current = null, topics = [];

function retention(t) {
  const parts = [];
  if (t.retention_ms !== undefined && t.retention_ms !== null) parts.push(t.retention_ms < 0 ? 'forever' : sluice.duration(t.retention_ms));
  if (t.retention_bytes !== undefined && t.retention_bytes !== null && t.retention_bytes >= 0) parts.push(sluice.bytes(t.retention_bytes) + '/partition');
  return parts.join(', ') || '–';
}

async function refresh() {
  let r;
  try {
    r = await sluice.get('/ui/api/topics');
    $('topics-msg').textContent = '';
  } catch (e) {
    $('topics-msg').textContent = e.message;
    return;
  }
  topics = r.topics || [];
  $('bootstrap').textContent = r.bootstrap ? 'on ' + r.bootstrap : '';
  $('topics').tBodies[0].replaceChildren(...topics.map((t) => {
    const msgs = t.partitions.reduce((a, p) => a + Math.max(p.high - p.low, 0), 0);
    const size = t.partitions.every((p) => p.size_bytes === null || p.size_bytes === undefined) ? null :
      t.partitions.reduce((a, p) => a + (p.size_bytes || 0), 0);
    return sluice.el('tr', { 'data-topic': t.name },
      sluice.el('td', { class: 'mono' }, t.name), sluice.el('td', { class: 'num' }, t.partitions.length),
      sluice.el('td', { class: 'num' }, sluice.num(msgs)), sluice.el('td', { class: 'num' }, sluice.bytes(size)),
      sluice.el('td', {}, retention(t)),
      sluice.el('td', {}, sluice.el('button', { onclick: () => show(t.name) }, 'Browse')));
  }));
  if (current) detail();
}

function detail() {
  const t = topics.find((x) => x.name === current);
  if (!t) return;
  $('detail').hidden = false;
  $('d-topic').textContent = t.name;
  $('parts').tBodies[0].replaceChildren(...t.partitions.map((p) => sluice.el('tr', {},
    sluice.el('td', {}, p.partition), sluice.el('td', { class: 'num' }, sluice.num(p.low)),
    sluice.el('td', { class: 'num' }, sluice.num(p.high)), sluice.el('td', { class: 'num' }, sluice.num(p.high - p.low)),
    sluice.el('td', { class: 'num' }, sluice.bytes(p.size_bytes)))));
  const sel = $('b-part');
  if (sel.dataset.topic !== t.name) {
    sel.dataset.topic = t.name;
    sel.replaceChildren(...t.partitions.map((p) => sluice.el('option', { value: p.partition }, p.partition)));
  }
}

function show(name) {
  current = name;
  detail();
  browse();
}

async function browse() {
  const q = new URLSearchParams({ partition: $('b-part').value || 0, limit: $('b-limit').value || 20 });
  if ($('b-offset').value.trim() !== '') q.set('offset', $('b-offset').value.trim());
  try {
    const r = await sluice.get('/ui/api/topics/' + encodeURIComponent(current) + '/messages?' + q);
    $('msgs-msg').textContent = r.error || '';
    $('msgs').tBodies[0].replaceChildren(...(r.messages || []).map((m) => sluice.el('tr', { class: 'msg-row' },
      sluice.el('td', { class: 'mono' }, m.offset), sluice.el('td', {}, sluice.time(m.timestamp)),
      sluice.el('td', { class: 'mono' }, m.key === null ? '(null)' : m.key),
      sluice.el('td', { class: 'mono wrap' }, m.value === null ? '(null)' : m.value),
      sluice.el('td', { class: 'mono wrap' }, Object.entries(m.headers || {}).map(([k, v]) => k + '=' + v).join(' ')))));
  } catch (e) {
    $('msgs-msg').textContent = e.message;
  }
}
$('browse').addEventListener('submit', (ev) => { ev.preventDefault(); browse(); });
sluice.every(5000, refresh);
