// Shared by every page: the navigation bar, calls to the REST API and /ui/api with the session
// cookie (a 401 sends the user to the login page), and small formatting helpers.
'use strict';

const sluice = {
  async get(url) {
    const r = await fetch(url, { credentials: 'same-origin', headers: { Accept: 'application/json' } });
    return sluice.check(r);
  },
  async send(method, url, body) {
    const r = await fetch(url, {
      method, credentials: 'same-origin',
      headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return sluice.check(r);
  },
  async check(r) {
    if (r.status === 401) {
      location.href = '/ui/login?next=' + encodeURIComponent(location.pathname + location.search);
      throw new Error('not logged in');
    }
    const text = await r.text();
    let data = null;
    try { data = text ? JSON.parse(text) : null; } catch (e) { data = text; }
    if (!r.ok) {
      let msg = data && data.detail !== undefined ? data.detail : text;
      if (typeof msg !== 'string') msg = JSON.stringify(msg);
      throw new Error(r.status + ': ' + msg);
    }
    return data;
  },
  el(tag, attrs, ...kids) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === 'class') e.className = v;
      else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
      else if (v !== undefined && v !== null && v !== false) e.setAttribute(k, v === true ? '' : v);
    }
    for (const k of kids.flat()) {
      if (k === null || k === undefined) continue;
      e.append(k instanceof Node ? k : document.createTextNode(String(k)));
    }
    return e;
  },
  stateClass(s) { return 's-' + (s || 'none'); },
  time(iso) {
    if (!iso) return '';
    const d = new Date(iso);
    return isNaN(d) ? iso : d.toISOString().replace('T', ' ').replace(/\.\d+Z$/, 'Z');
  },
  num(n) { return n === null || n === undefined ? '–' : Number(n).toLocaleString('en-US'); },
  bytes(n) {
    if (n === null || n === undefined || n < 0) return '–';
    const u = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
    let i = 0;
    while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
    return (i ? n.toFixed(1) : n) + ' ' + u[i];
  },
  duration(ms) {
    if (ms === null || ms === undefined || ms < 0) return '–';
    const s = ms / 1000;
    if (s < 120) return s + ' s';
    if (s < 7200) return Math.round(s / 60) + ' min';
    if (s < 172800) return Math.round(s / 3600) + ' h';
    return Math.round(s / 86400) + ' d';
  },
  nav(active) {
    const links = [['dags', '/ui/dags', 'DAGs'], ['pipeline', '/ui/pipeline', 'Pipeline'],
      ['topics', '/ui/topics', 'Topics']];
    const user = sluice.el('span', { class: 'muted', id: 'whoami' });
    const out = sluice.el('button', { id: 'logout', onclick: async () => {
      await fetch('/ui/logout', { method: 'POST', credentials: 'same-origin' });
      location.href = '/ui/login';
    } }, 'Log out');
    const bar = sluice.el('header', { class: 'nav' },
      sluice.el('a', { class: 'brand', href: '/ui/dags' }, 'sluice'),
      links.map(([k, href, label]) => sluice.el('a', { href, class: k === active ? 'active' : '' }, label)),
      sluice.el('span', { class: 'spacer' }), user, out);
    document.body.prepend(bar);
    sluice.get('/ui/api/whoami').then((w) => { user.textContent = w.username; }).catch(() => {});
  },
  every(ms, fn) {
    let stopped = false;
    const tick = async () => {
      if (stopped) return;
      try { await fn(); } catch (e) { console.warn(e); }
      if (!stopped) setTimeout(tick, ms);
    };
    tick();
    return () => { stopped = true; };
  },
};
