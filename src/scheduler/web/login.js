'use strict';
document.getElementById('login').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const msg = document.getElementById('msg');
  msg.textContent = '';
  const r = await fetch('/ui/login', {
    method: 'POST', credentials: 'same-origin', headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ username: document.getElementById('username').value,
      password: document.getElementById('password').value }),
  });
  if (!r.ok) {
    let detail = 'login failed';
    try { detail = (await r.json()).detail || detail; } catch (e) { /* keep the default */ }
    msg.textContent = detail;
    return;
  }
  const next = new URLSearchParams(location.search).get('next');
  location.href = next && next.startsWith('/ui/') ? next : '/ui/dags';
});
