// The scoreboard over time: blue and orange points across the match, drawn on a canvas (one
// pass over at most one frame per pixel column, so 5000 frames cost as little as 500), with
// the selected frame as a cursor. Clicking or dragging on it selects a frame.

const BLUE = '#3d8bfd';
const ORANGE = '#ff8c1a';

export class ScoreChart {
  constructor(onSelect) {
    this.canvas = document.createElement('canvas');
    this.canvas.id = 'score-chart';
    this.canvas.className = 'chart';
    this.canvas.setAttribute('role', 'img');
    this.canvas.setAttribute('aria-label', 'Points of blue and orange over the match');
    this.frames = [];
    this.cursor = 0;
    this.base = null;
    let dragging = false;
    const pick = (e) => {
      const r = this.canvas.getBoundingClientRect();
      const n = this.frames.length;
      if (!n || r.width <= 0) return;
      const i = Math.round(((e.clientX - r.left) / r.width) * (n - 1));
      onSelect(Math.max(0, Math.min(n - 1, i)));
    };
    this.canvas.addEventListener('pointerdown', (e) => {
      dragging = true;
      this.canvas.setPointerCapture(e.pointerId);
      pick(e);
    });
    this.canvas.addEventListener('pointermove', (e) => dragging && pick(e));
    this.canvas.addEventListener('pointerup', () => (dragging = false));
  }

  /** New frames arrived: the curves are redrawn at the next `draw`. */
  setFrames(frames) {
    this.frames = frames;
    this.base = null;
  }

  setCursor(i) {
    this.cursor = i;
  }

  draw() {
    const c = this.canvas;
    const dpr = window.devicePixelRatio || 1;
    const w = Math.max(1, Math.round(c.clientWidth * dpr));
    const hgt = Math.max(1, Math.round(c.clientHeight * dpr));
    if (c.width !== w || c.height !== hgt) {
      c.width = w;
      c.height = hgt;
      this.base = null;
    }
    const ctx = c.getContext('2d');
    if (!this.base) this.base = this.drawCurves(w, hgt, dpr);
    ctx.clearRect(0, 0, w, hgt);
    ctx.drawImage(this.base, 0, 0);
    const n = this.frames.length;
    if (n > 1) {
      const x = (this.cursor / (n - 1)) * (w - 1);
      ctx.strokeStyle = '#e6e6e6';
      ctx.lineWidth = 1 * dpr;
      ctx.beginPath();
      ctx.moveTo(x, 0);
      ctx.lineTo(x, hgt);
      ctx.stroke();
    }
  }

  drawCurves(w, hgt, dpr) {
    const off = document.createElement('canvas');
    off.width = w;
    off.height = hgt;
    const ctx = off.getContext('2d');
    const f = this.frames;
    const n = f.length;
    if (!n) return off;
    const cols = Math.min(n, w);
    let max = 1;
    for (let k = 0; k < cols; k++) {
      const r = f[Math.floor((k / cols) * n)];
      max = Math.max(max, r.blue, r.orange);
    }
    const last = f[n - 1];
    max = Math.max(max, last.blue, last.orange);
    const pad = 4 * dpr;
    const y = (v) => hgt - pad - (v / max) * (hgt - 2 * pad);
    ctx.lineWidth = 2 * dpr;
    for (const [key, color] of [['blue', BLUE], ['orange', ORANGE]]) {
      ctx.strokeStyle = color;
      ctx.beginPath();
      for (let k = 0; k <= cols; k++) {
        const i = Math.min(n - 1, Math.floor((k / cols) * n));
        const px = n > 1 ? (i / (n - 1)) * (w - 1) : 0;
        if (k === 0) ctx.moveTo(px, y(f[i][key]));
        else ctx.lineTo(px, y(f[i][key]));
      }
      ctx.stroke();
    }
    ctx.fillStyle = '#9aa4b2';
    ctx.font = `${11 * dpr}px sans-serif`;
    ctx.fillText(String(max), 2 * dpr, 12 * dpr);
    return off;
  }
}
