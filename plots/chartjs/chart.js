// capfinder's charts: line charts on a canvas, with values on hover, a
// drag to zoom (double-click to reset), series switched on and off from
// the legend, and a log axis where the values span decades. Nothing is
// loaded from a network.
"use strict";

const palette = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"];

class Chart {
  // opts: {title, x, y, series: [{name, color}], log: "auto"|true|false, points: bool}
  constructor(box, opts) {
    this.opts = Object.assign({log: false, points: false}, opts);
    this.series = opts.series.map((s, i) => Object.assign({color: palette[i % palette.length], on: true}, s));
    this.xs = [];
    this.ys = this.series.map(() => []);
    this.zoom = null;
    const fig = document.createElement("figure");
    fig.className = "chart";
    const h = document.createElement("figcaption");
    h.textContent = opts.title;
    this.legend = document.createElement("div");
    this.legend.className = "legend";
    this.series.forEach((s, i) => {
      const b = document.createElement("button");
      b.innerHTML = `<i style="background:${s.color}"></i>${s.name}`;
      b.onclick = () => { s.on = !s.on; b.classList.toggle("off", !s.on); this.draw(); };
      this.legend.appendChild(b);
    });
    this.canvas = document.createElement("canvas");
    this.canvas.dataset.points = "0";
    this.tip = document.createElement("div");
    this.tip.className = "tip";
    fig.append(h, this.legend, this.canvas, this.tip);
    box.appendChild(fig);
    this.canvas.addEventListener("mousemove", e => this.hover(e));
    this.canvas.addEventListener("mouseleave", () => { this.tip.style.display = "none"; this.mark = null; this.draw(); });
    this.canvas.addEventListener("mousedown", e => { this.drag = {x0: e.offsetX, x1: e.offsetX}; });
    this.canvas.addEventListener("mouseup", () => {
      const d = this.drag;
      this.drag = null;
      if (d && Math.abs(d.x1 - d.x0) > 5) {
        const a = this.xAt(Math.min(d.x0, d.x1)), b = this.xAt(Math.max(d.x0, d.x1));
        this.zoom = [a, b];
      }
      this.draw();
    });
    this.canvas.addEventListener("dblclick", () => { this.zoom = null; this.draw(); });
    new ResizeObserver(() => this.draw()).observe(this.canvas);
  }

  // push adds one point: x and one value per series (null for none).
  push(x, vals) {
    this.xs.push(x);
    vals.forEach((v, i) => this.ys[i].push(v));
    this.canvas.dataset.points = String(this.xs.length);
    this.pending();
  }

  // set replaces every point, and draws them at once (a static page is
  // drawn before a screenshot or a print).
  set(xs, ys) {
    this.xs = xs;
    this.ys = ys;
    this.canvas.dataset.points = String(xs.length);
    this.draw();
  }

  // trim keeps at most n points.
  trim(n) {
    if (this.xs.length > n) {
      const cut = this.xs.length - n;
      this.xs.splice(0, cut);
      this.ys.forEach(y => y.splice(0, cut));
    }
  }

  pending() {
    if (!this.queued) {
      this.queued = true;
      requestAnimationFrame(() => { this.queued = false; this.draw(); });
    }
  }

  range() {
    let [x0, x1] = this.zoom || [Math.min(...this.xs), Math.max(...this.xs)];
    if (!(x1 > x0)) { x0 -= 1; x1 += 1; }
    let y0 = Infinity, y1 = -Infinity;
    this.series.forEach((s, i) => {
      if (!s.on) return;
      this.xs.forEach((x, k) => {
        const v = this.ys[i][k];
        if (v == null || !isFinite(v) || x < x0 || x > x1) return;
        if (this.logY && v <= 0) return;
        y0 = Math.min(y0, v); y1 = Math.max(y1, v);
      });
    });
    if (!isFinite(y0)) { y0 = 0; y1 = 1; }
    if (!this.logY) { y0 = Math.min(0, y0); }
    if (y1 <= y0) y1 = y0 + 1;
    return {x0, x1, y0, y1};
  }

  // decades says whether the positive values span more than two decades.
  decades() {
    let lo = Infinity, hi = 0;
    this.ys.forEach((y, i) => this.series[i].on && y.forEach(v => { if (v > 0) { lo = Math.min(lo, v); hi = Math.max(hi, v); } }));
    return hi / lo > 100;
  }

  layout() {
    const c = this.canvas, dpr = window.devicePixelRatio || 1;
    const w = c.clientWidth, h = c.clientHeight;
    if (c.width !== w * dpr || c.height !== h * dpr) { c.width = w * dpr; c.height = h * dpr; }
    const ctx = c.getContext("2d");
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    return {ctx, w, h, l: 60, r: 12, t: 8, b: 34};
  }

  sx(x, g, r) { return g.l + (x - r.x0) / (r.x1 - r.x0) * (g.w - g.l - g.r); }
  sy(y, g, r) {
    const f = this.logY ? (Math.log10(y) - Math.log10(r.y0)) / (Math.log10(r.y1) - Math.log10(r.y0)) : (y - r.y0) / (r.y1 - r.y0);
    return g.h - g.b - f * (g.h - g.t - g.b);
  }
  xAt(px) {
    const g = this.g, r = this.r;
    return r.x0 + (px - g.l) / (g.w - g.l - g.r) * (r.x1 - r.x0);
  }

  ticks(lo, hi, log) {
    if (log) {
      const out = [];
      for (let e = Math.floor(Math.log10(lo)); e <= Math.ceil(Math.log10(hi)); e++) {
        for (const m of [1, 2, 5]) { const v = m * 10 ** e; if (v >= lo && v <= hi) out.push(v); }
      }
      return out;
    }
    const step = 10 ** Math.floor(Math.log10((hi - lo) / 5));
    const k = [1, 2, 5, 10].find(k => (hi - lo) / (k * step) <= 6) * step;
    const out = [];
    for (let v = Math.ceil(lo / k) * k; v <= hi + 1e-9; v += k) out.push(+v.toPrecision(12));
    return out;
  }

  draw() {
    if (!this.canvas.isConnected) return;
    this.logY = this.opts.log === true || (this.opts.log === "auto" && this.decades());
    const g = this.layout(), r = this.range(), ctx = g.ctx;
    if (this.logY) { r.y0 = Math.max(r.y0, r.y1 / 1e6); }
    this.g = g; this.r = r;
    ctx.clearRect(0, 0, g.w, g.h);
    ctx.font = "11px system-ui, sans-serif";
    ctx.strokeStyle = "#e5e5e5"; ctx.fillStyle = "#555";
    ctx.textAlign = "right"; ctx.textBaseline = "middle";
    for (const v of this.ticks(r.y0, r.y1, this.logY)) {
      const y = this.sy(v, g, r);
      ctx.beginPath(); ctx.moveTo(g.l, y); ctx.lineTo(g.w - g.r, y); ctx.stroke();
      ctx.fillText(fmt(v), g.l - 4, y);
    }
    ctx.textAlign = "center"; ctx.textBaseline = "top";
    for (const v of this.ticks(r.x0, r.x1, false)) {
      const x = this.sx(v, g, r);
      ctx.beginPath(); ctx.moveTo(x, g.t); ctx.lineTo(x, g.h - g.b); ctx.stroke();
      ctx.fillText(fmt(v), x, g.h - g.b + 3);
    }
    ctx.fillText(this.opts.x, (g.l + g.w - g.r) / 2, g.h - 14);
    ctx.save(); ctx.translate(10, (g.h - g.b) / 2); ctx.rotate(-Math.PI / 2);
    ctx.fillText(this.opts.y + (this.logY ? " (log)" : ""), 0, 0); ctx.restore();
    ctx.save();
    ctx.beginPath(); ctx.rect(g.l, g.t, g.w - g.l - g.r, g.h - g.t - g.b); ctx.clip();
    this.series.forEach((s, i) => {
      if (!s.on) return;
      ctx.strokeStyle = ctx.fillStyle = s.color; ctx.lineWidth = 1.5;
      ctx.beginPath();
      let open = false;
      this.xs.forEach((x, k) => {
        const v = this.ys[i][k];
        if (v == null || !isFinite(v) || (this.logY && v <= 0)) { open = false; return; }
        const px = this.sx(x, g, r), py = this.sy(v, g, r);
        if (open) ctx.lineTo(px, py); else ctx.moveTo(px, py);
        open = true;
        if (this.opts.points) { ctx.fillRect(px - 2, py - 2, 4, 4); }
      });
      ctx.stroke();
    });
    if (this.mark != null) {
      ctx.strokeStyle = "#999"; ctx.beginPath();
      const x = this.sx(this.xs[this.mark], g, r);
      ctx.moveTo(x, g.t); ctx.lineTo(x, g.h - g.b); ctx.stroke();
    }
    if (this.drag) {
      ctx.fillStyle = "rgba(100,100,255,0.15)";
      ctx.fillRect(Math.min(this.drag.x0, this.drag.x1), g.t, Math.abs(this.drag.x1 - this.drag.x0), g.h - g.t - g.b);
    }
    ctx.restore();
  }

  hover(e) {
    if (this.drag) { this.drag.x1 = e.offsetX; this.draw(); return; }
    if (!this.xs.length || !this.g) return;
    const x = this.xAt(e.offsetX);
    let best = 0;
    this.xs.forEach((v, k) => { if (Math.abs(v - x) < Math.abs(this.xs[best] - x)) best = k; });
    this.mark = best;
    const lines = [`${this.opts.x}: ${fmt(this.xs[best])}`];
    this.series.forEach((s, i) => { if (s.on && this.ys[i][best] != null) lines.push(`<i style="background:${s.color}"></i>${s.name}: ${fmt(this.ys[i][best])}`); });
    this.tip.innerHTML = lines.join("<br>");
    this.tip.style.display = "block";
    this.tip.style.left = Math.min(e.offsetX + 14, this.canvas.clientWidth - 160) + "px";
    this.tip.style.top = (e.offsetY + 40) + "px";
    this.draw();
  }
}

function fmt(v) {
  if (v == null) return "";
  const a = Math.abs(v);
  if (a >= 1e6) return (v / 1e6).toPrecision(3) + "M";
  if (a >= 1e4) return (v / 1e3).toPrecision(3) + "k";
  if (a >= 100 || v === Math.round(v)) return String(Math.round(v));
  return v.toPrecision(3);
}
