// The 2-D top view of the arena: players (by team) and the disc at one frame, in SVG (a dozen
// elements moved per frame; their names are SVG text nodes, so never markup).
//
// Echo Arena coordinates are metres: z runs along the arena (goals near z = ±36), x across it,
// y is height. The view looks down: z to the right, x up.

import { s } from './dom.js';

const HALF_LENGTH = 40;
const HALF_WIDTH = 16;
const GOAL_Z = 36;
const SIDES = ['blue', 'orange', 'other'];

export class TopView {
  constructor() {
    this.markers = new Map();
    this.svg = s(
      'svg',
      {
        id: 'topview',
        class: 'topview',
        viewBox: `${-HALF_LENGTH - 2} ${-HALF_WIDTH - 2} ${2 * HALF_LENGTH + 4} ${2 * HALF_WIDTH + 4}`,
        role: 'img',
        'aria-label': 'Top view of the arena',
      },
      s('rect', { class: 'arena', x: -HALF_LENGTH, y: -HALF_WIDTH, width: 2 * HALF_LENGTH, height: 2 * HALF_WIDTH, rx: 6 }),
      s('line', { class: 'midline', x1: 0, y1: -HALF_WIDTH, x2: 0, y2: HALF_WIDTH }),
      s('circle', { class: 'midcircle', cx: 0, cy: 0, r: 4 }),
      s('rect', { class: 'goal', x: -GOAL_Z - 1, y: -2.5, width: 1, height: 5 }),
      s('rect', { class: 'goal', x: GOAL_Z, y: -2.5, width: 1, height: 5 }),
    );
    this.players = s('g', { class: 'players' });
    this.disc = s('circle', { id: 'disc-marker', class: 'disc', r: 0.9, cx: 0, cy: 0, visibility: 'hidden' });
    this.svg.append(this.players, this.disc);
  }

  marker(slot) {
    let m = this.markers.get(slot);
    if (!m) {
      const title = s('title');
      const label = s('text', { class: 'label', y: 3.6 });
      const num = s('text', { class: 'num', y: 0.7 });
      const g = s('g', { class: 'marker', 'data-slot': slot }, s('circle', { r: 1.6 }), num, label, title);
      m = { g, title, label, num };
      this.markers.set(slot, m);
      this.players.append(g);
    }
    return m;
  }

  /** Shows frame record `rec` (see frame.js). */
  update(rec) {
    const present = new Set();
    for (const p of rec ? rec.players : []) {
      if (!p.pos || p.side > 1) continue;
      present.add(p.slot);
      const m = this.marker(p.slot);
      const [x, , z] = p.pos;
      m.g.setAttribute('transform', `translate(${z.toFixed(2)} ${(-x).toFixed(2)})`);
      m.g.setAttribute('class', `marker ${SIDES[p.side]}${p.possession ? ' possession' : ''}${p.stunned ? ' stunned' : ''}`);
      m.g.setAttribute('data-x', p.pos[0]);
      m.g.setAttribute('data-z', p.pos[2]);
      if (m.label.textContent !== p.name) {
        m.label.textContent = p.name;
        m.title.textContent = p.name;
      }
      const n = String(p.number);
      if (m.num.textContent !== n) m.num.textContent = n;
      m.g.removeAttribute('visibility');
    }
    for (const [slot, m] of this.markers) if (!present.has(slot)) m.g.setAttribute('visibility', 'hidden');
    if (rec && rec.disc) {
      const [x, , z] = rec.disc;
      this.disc.setAttribute('cx', z.toFixed(2));
      this.disc.setAttribute('cy', (-x).toFixed(2));
      this.disc.removeAttribute('visibility');
    } else {
      this.disc.setAttribute('visibility', 'hidden');
    }
  }
}
