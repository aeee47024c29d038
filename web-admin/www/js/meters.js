// meters.js - the meter bridge: one stereo strip per node (the publish and
// playout buses first, then every source), peak and RMS bars with a peak
// hold, on a dBFS scale, drawn on a canvas once per animation frame from the
// newest meter frame of the WebSocket.
//
// Ballistics: a bar jumps up at once and falls at 20 dB/s; the peak hold
// stays 1.5 s, then falls at 10 dB/s. The canvas carries data-frames (meter
// frames drawn) and data-levels (JSON {node id: peak dBFS}) for tests and
// tools; a text table of the same levels sits beside it for screen readers.

const FLOOR = -60;	/* dBFS at the bottom of the scale */
const FALL_DB_S = 20;
const HOLD_MS = 1500;
const HOLD_FALL_DB_S = 10;
const TICKS = [0, -3, -6, -9, -12, -18, -24, -30, -40, -50, -60];

function level(v) {
	return v === null || v === undefined || !isFinite(v) ? FLOOR : Math.max(FLOOR, Math.min(0, v));
}

export class MeterBridge {
	constructor(canvas, liveText) {
		this.canvas = canvas;
		this.liveText = liveText;
		this.ctx = canvas.getContext('2d');
		this.strips = new Map();	/* id -> {name, peak[2], rms[2], hold[2], holdAt[2], raw[2]} */
		this.names = new Map();
		this.latest = null;
		this.frames = 0;
		this.last = performance.now();
		this.running = false;
		this.textAt = 0;
	}

	setNames(nodes) {
		this.names = new Map(nodes.map((n) => [n.id, n.name]));
	}

	push(frame) {
		this.latest = frame;
	}

	start() {
		if (this.running)
			return;
		this.running = true;
		const step = (t) => {
			if (!this.running)
				return;
			this.draw(t);
			requestAnimationFrame(step);
		};
		requestAnimationFrame(step);
	}

	stop() {
		this.running = false;
	}

	update(now) {
		const dt = Math.min(0.25, (now - this.last) / 1000);
		const f = this.latest;
		this.last = now;
		if (f) {
			this.latest = null;
			this.frames++;
			const seen = new Set();
			for (const n of f.nodes) {
				seen.add(n.id);
				let s = this.strips.get(n.id);
				if (!s) {
					s = { peak: [FLOOR, FLOOR], rms: [FLOOR, FLOOR], hold: [FLOOR, FLOOR], holdAt: [0, 0], raw: [null, null] };
					this.strips.set(n.id, s);
				}
				for (let c = 0; c < 2; c++) {
					const p = level(n.peak_dbfs[c]), r = level(n.rms_dbfs[c]);
					s.raw[c] = n.peak_dbfs[c];
					s.peak[c] = Math.max(p, s.peak[c] - FALL_DB_S * dt);
					s.rms[c] = Math.max(r, s.rms[c] - FALL_DB_S * dt);
					if (p >= s.hold[c]) {
						s.hold[c] = p;
						s.holdAt[c] = now;
					}
				}
			}
			for (const id of [...this.strips.keys()])
				if (!seen.has(id))
					this.strips.delete(id);
		} else {
			for (const s of this.strips.values())
				for (let c = 0; c < 2; c++) {
					s.peak[c] = Math.max(FLOOR, s.peak[c] - FALL_DB_S * dt);
					s.rms[c] = Math.max(FLOOR, s.rms[c] - FALL_DB_S * dt);
				}
		}
		for (const s of this.strips.values())
			for (let c = 0; c < 2; c++)
				if (now - s.holdAt[c] > HOLD_MS)
					s.hold[c] = Math.max(FLOOR, s.hold[c] - HOLD_FALL_DB_S * dt);
		return !!f;
	}

	draw(now) {
		const fresh = this.update(now);
		const cv = this.canvas, dpr = window.devicePixelRatio || 1;
		const w = cv.clientWidth, hgt = cv.clientHeight;
		if (!w || !hgt)
			return;
		if (cv.width !== Math.round(w * dpr) || cv.height !== Math.round(hgt * dpr)) {
			cv.width = Math.round(w * dpr);
			cv.height = Math.round(hgt * dpr);
		}
		const g = this.ctx;
		g.setTransform(dpr, 0, 0, dpr, 0, 0);
		g.fillStyle = '#0b0d10';
		g.fillRect(0, 0, w, hgt);
		const top = 8, bottom = hgt - 34, scaleW = 34;
		const y = (db) => top + (bottom - top) * (db / FLOOR);
		g.font = '11px "DejaVu Sans Mono", monospace';
		g.textAlign = 'right';
		g.textBaseline = 'middle';
		for (const t of TICKS) {
			g.fillStyle = '#6c7685';
			g.fillText(String(t), scaleW - 6, y(t));
			g.fillStyle = '#1e242c';
			g.fillRect(scaleW, Math.round(y(t)), w - scaleW, 1);
		}
		const ids = [...this.strips.keys()];
		const n = Math.max(ids.length, 1);
		const slot = Math.min(90, (w - scaleW - 8) / n);
		const bar = Math.max(4, Math.min(16, slot / 2 - 6));
		const levels = {};
		g.textAlign = 'center';
		g.textBaseline = 'alphabetic';
		ids.forEach((id, i) => {
			const s = this.strips.get(id);
			const x0 = scaleW + 8 + i * slot;
			for (let c = 0; c < 2; c++) {
				const x = x0 + c * (bar + 3);
				const grad = g.createLinearGradient(0, y(0), 0, y(FLOOR));
				grad.addColorStop(0, '#ff5a5a');
				grad.addColorStop(0.1, '#f2b33d');
				grad.addColorStop(0.3, '#3ecf6e');
				grad.addColorStop(1, '#1f7a3f');
				g.fillStyle = '#161b21';
				g.fillRect(x, top, bar, bottom - top);
				g.fillStyle = grad;
				g.globalAlpha = 0.45;
				g.fillRect(x, y(s.peak[c]), bar, bottom - y(s.peak[c]));
				g.globalAlpha = 1;
				g.fillRect(x, y(s.rms[c]), bar, bottom - y(s.rms[c]));
				g.fillStyle = s.hold[c] > -0.5 ? '#ff5a5a' : '#e4e8ee';
				if (s.hold[c] > FLOOR)
					g.fillRect(x, Math.round(y(s.hold[c])) - 1, bar, 2);
			}
			const name = this.names.get(id) || `node ${id}`;
			g.fillStyle = id <= 2 ? '#5aa9ff' : '#c9d1dc';
			g.fillText(name.length > 11 ? name.slice(0, 10) + '…' : name, x0 + bar + 1, hgt - 18);
			g.fillStyle = '#98a2b0';
			const hold = Math.max(s.hold[0], s.hold[1]);
			g.fillText(hold <= FLOOR ? '−∞' : hold.toFixed(1), x0 + bar + 1, hgt - 4);
			const raw = [s.raw[0], s.raw[1]].filter((v) => v !== null && v !== undefined);
			levels[id] = raw.length ? Math.max(...raw) : null;
		});
		if (fresh) {
			cv.dataset.frames = String(this.frames);
			cv.dataset.levels = JSON.stringify(levels);
			if (this.liveText && now - this.textAt > 1000) {
				this.textAt = now;
				this.liveText.textContent = ids.map((id) => `${this.names.get(id) || 'node ' + id}: ` +
					`${levels[id] === null ? 'silent' : levels[id].toFixed(1) + ' dBFS'}`).join('; ');
			}
		}
	}
}
