'use strict';
// A small line chart on <canvas>: series of [t_ms, value] over the last windowMs (or, while
// there is less data than that, over the data, at least minWindowMs), auto-scaled y axis,
// drawn for the device's pixel ratio. Written here; no chart library.
class LineChart {
  constructor(canvas, opts) {
    this.c = canvas;
    this.opts = Object.assign({ windowMs: 15 * 60 * 1000, minWindowMs: 60 * 1000, unit: '', colors: {} },
      opts || {});
    this.series = {};
  }
  set(name, points) { this.series[name] = points; }
  fmt(v) {
    const u = this.opts.unit;
    if (u === 's') {
      if (v >= 1) return v.toFixed(v >= 10 ? 0 : 1) + ' s';
      return (v * 1000).toFixed(v * 1000 >= 10 ? 0 : 1) + ' ms';
    }
    if (v >= 1e6) return (v / 1e6).toFixed(1) + 'M' + u;
    if (v >= 1e3) return (v / 1e3).toFixed(1) + 'k' + u;
    return (Math.round(v * 10) / 10) + u;
  }
  draw(now) {
    const c = this.c, dpr = window.devicePixelRatio || 1;
    const w = c.clientWidth, h = c.clientHeight;
    if (c.width !== Math.round(w * dpr) || c.height !== Math.round(h * dpr)) {
      c.width = Math.round(w * dpr);
      c.height = Math.round(h * dpr);
    }
    const g = c.getContext('2d');
    g.setTransform(dpr, 0, 0, dpr, 0, 0);
    g.clearRect(0, 0, w, h);
    const left = 52, right = 8, top = 8, bottom = 20;
    let first = now;
    for (const pts of Object.values(this.series)) if (pts.length && pts[0][0] < first) first = pts[0][0];
    const span = Math.min(this.opts.windowMs, Math.max(this.opts.minWindowMs, now - first));
    const t1 = now, t0 = now - span;
    let max = 0;
    for (const pts of Object.values(this.series)) {
      for (const [t, v] of pts) if (t >= t0 && v > max && isFinite(v)) max = v;
    }
    max = max > 0 ? max * 1.15 : 1;
    const x = (t) => left + ((t - t0) / (t1 - t0)) * (w - left - right);
    const y = (v) => top + (1 - v / max) * (h - top - bottom);
    g.font = '11px system-ui, sans-serif';
    g.strokeStyle = '#e5e7eb';
    g.fillStyle = '#6b7280';
    g.lineWidth = 1;
    for (let i = 0; i <= 4; i++) {
      const v = (max * i) / 4, yy = Math.round(y(v)) + 0.5;
      g.beginPath(); g.moveTo(left, yy); g.lineTo(w - right, yy); g.stroke();
      g.fillText(this.fmt(v), 4, yy + 4);
    }
    const steps = [15, 30, 60, 120, 300].map((s) => s * 1000);
    const step = steps.find((s) => span / s <= 5) || 300000;
    for (let d = 0; d <= span; d += step) {
      const xx = x(t1 - d);
      const label = d === 0 ? 'now' : d % 60000 ? '-' + d / 1000 + 's' : '-' + d / 60000 + 'm';
      g.fillText(label, Math.max(left, Math.min(xx - 8, w - 28)), h - 5);
    }
    let k = 0;
    for (const [name, pts] of Object.entries(this.series)) {
      g.strokeStyle = this.opts.colors[name] || LineChart.palette[k % LineChart.palette.length];
      k++;
      g.lineWidth = 1.6;
      g.beginPath();
      let started = false;
      for (const [t, v] of pts) {
        if (t < t0 || !isFinite(v)) { started = false; continue; }
        if (!started) { g.moveTo(x(t), y(v)); started = true; } else g.lineTo(x(t), y(v));
      }
      g.stroke();
    }
  }
}
LineChart.palette = ['#2563eb', '#16a34a', '#9333ea', '#ea580c', '#dc2626', '#0891b2', '#ca8a04', '#db2777'];
