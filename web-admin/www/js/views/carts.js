// carts.js - the cart wall: a grid of mixing ids (the first twelve, plus any
// other id the server has), each with its file, preload, play, pause/resume,
// stop, unload, volume, pitch, speed, loop count, position scrubber, track,
// state, meter and last error; file upload by drag and drop; keys 1-9 play
// or stop the first nine carts, Shift+1-9 pause or resume them.

import { get, post, put, del, api, missing } from '../api.js';
import { h, field, showError, fmtMs, fmtBytes, fmtDuration, act, errorNodes, pill, table, td } from '../ui.js';

const SLOTS = 12;
const TYPES = [['2', 'Both'], ['0', 'Playout'], ['1', 'Publish']];	/* monitor, programme */
const AUDIO = /\.(wav|rf64|flac|ogg|opus|mp3)$/i;	/* what the server takes */

function throttle(fn, ms) {
	let t = null, pending = null;
	return (...args) => {
		pending = args;
		if (t)
			return;
		t = setTimeout(() => {
			t = null;
			fn(...pending);
		}, ms);
	};
}

export function create(section, ctx) {
	const grid = h('div', { class: 'carts', id: 'cart-grid' });
	const datalist = h('datalist', { id: 'media-files' });
	const mediaNote = h('span', { id: 'media-note' });
	const mediaList = h('div', { class: 'scroll', id: 'media-list' });
	const mediaPanel = h('details', { class: 'panel', id: 'media-panel' }, h('summary', {}, 'Media folder: ', mediaNote), mediaList);
	const uploadErr = h('p', { id: 'upload-error', hidden: true });
	const fileInput = h('input', { type: 'file', id: 'upload-input', multiple: true, accept: '.wav,.rf64,.flac,.ogg,.opus,.mp3' });
	const drop = h('div', { class: 'drop', id: 'drop-zone' },
		h('label', { for: fileInput.id }, 'Drop audio files here to upload them to the media folder, or choose them: '), fileInput);
	const listErr = h('p', { hidden: true });
	const stopAll = h('button', { type: 'button', class: 'danger', id: 'stop-all' }, 'Stop all');
	section.append(
		h('h2', { id: 'h-carts' }, 'Cart wall'),
		h('p', { class: 'dim' }, 'Keys ', h('span', { class: 'kbd' }, '1'), '–', h('span', { class: 'kbd' }, '9'),
			' play or stop the first nine carts; ', h('span', { class: 'kbd' }, 'Shift'), ' + number pauses or resumes.'),
		h('div', { class: 'row', style: 'align-items:center' }, stopAll, h('div', { style: 'flex:1' }, drop)),
		uploadErr, mediaPanel, listErr, datalist, grid);

	const carts = new Map();	/* id -> cart object */
	let media = [];
	let visible = false;

	function cartFor(id) {
		let c = carts.get(id);
		if (!c) {
			c = buildCart(id);
			carts.set(id, c);
			const after = [...grid.children].find((el) => Number(el.dataset.id) > id);
			grid.insertBefore(c.el, after || null);
			renumberKeys();
		}
		return c;
	}

	function renumberKeys() {
		[...grid.children].forEach((el, i) => {
			const k = el.querySelector('.key');
			k.textContent = i < 9 ? String(i + 1) : '';
			k.hidden = i >= 9;
		});
	}

	function buildCart(id) {
		const c = { id, info: null, dirty: new Map() };
		const mk = (name) => `cart-${id}-${name}`;
		c.file = h('input', { id: mk('file'), list: 'media-files', placeholder: 'file in the media folder', autocomplete: 'off' });
		c.type = h('select', { id: mk('type') }, TYPES.map(([v, t]) => h('option', { value: v }, t)));
		c.loops = h('input', { id: mk('loops'), type: 'number', min: '0', max: '1000', value: '1', title: '0 = loop forever' });
		c.track = h('select', { id: mk('track'), disabled: true }, h('option', { value: '0' }, '1'));
		c.err = h('p', { class: 'err', id: mk('error'), 'aria-live': 'polite' });
		c.stateEl = h('span', {}, pill('EMPTY'));
		c.title = h('span', { class: 'title' }, `Cart ${id}`);
		c.meter = h('div', { class: 'minimeter', role: 'meter', 'aria-label': `cart ${id} level`, 'aria-valuemin': '-60', 'aria-valuemax': '0' }, h('div'));
		const range = (name, min, max, value, unit, label) => {
			const r = h('input', { type: 'range', id: mk(name), min: String(min), max: String(max), value: String(value), step: '1' });
			const out = h('output', { for: r.id, class: 'mono' }, `${value}${unit}`);
			return { r, out, row: [h('label', { for: r.id }, label), r, out] };
		};
		c.volume = range('volume', 0, 400, 100, ' %', 'Volume');
		c.pitch = range('pitch', -12, 12, 0, ' st', 'Pitch');
		c.speed = range('speed', 50, 200, 100, ' %', 'Speed');
		c.pos = range('position', 0, 1000, 0, '', 'Position');
		c.pos.r.disabled = true;
		const btn = (name, text, cls) => h('button', { type: 'button', id: mk(name), class: `small ${cls || ''}`, 'aria-label': `${text} cart ${id}` }, text);
		c.b = {
			preload: btn('preload', 'Preload'),
			play: btn('play', 'Play', 'go'),
			pause: btn('pause', 'Pause'),
			stop: btn('stop', 'Stop'),
			unload: btn('unload', 'Unload'),
		};
		c.el = h('article', { class: 'cart', id: `cart-${id}`, dataset: { id: String(id), state: 'EMPTY' }, 'aria-label': `Cart ${id}` },
			h('div', { class: 'cart-head' }, h('span', { class: 'key', 'aria-hidden': 'true' }), c.title, c.stateEl),
			field('File', c.file),
			h('div', { class: 'opts' }, field('Buses', c.type), field('Loops', c.loops), field('Track', c.track)),
			h('div', { class: 'buttons' }, Object.values(c.b)),
			h('div', { class: 'params' }, c.volume.row, c.pitch.row, c.speed.row, c.pos.row),
			c.meter, c.err);

		const path = () => c.file.value.trim() || (c.info && c.info.file) || '';
		const call = (button, fn) => act(button, null, async () => {
			try {
				const info = await fn();
				if (info && info.id !== undefined)
					update(c, info);
				setError(c, null);
			} catch (e) {
				setError(c, e);
			}
		});
		c.b.preload.onclick = () => call(c.b.preload, () => post(`/api/v1/mixing/${id}/preload`, { path: path() }));
		c.b.play.onclick = () => c.play();
		c.b.pause.onclick = () => c.pauseResume();
		c.stop = () => call(c.b.stop, () => post(`/api/v1/mixing/${id}/stop`));
		c.b.stop.onclick = () => c.stop();
		c.b.unload.onclick = () => call(c.b.unload, async () => {
			await del(`/api/v1/mixing/${id}`);
			reset(c);
		});
		c.play = () => call(c.b.play, () => {
			if (c.info && c.info.state_name === 'PAUSED')
				return post(`/api/v1/mixing/${id}/resume`);
			return post(`/api/v1/mixing/${id}/start`, {
				path: path(), type: Number(c.type.value), play_count: Number(c.loops.value || 1),
			});
		});
		c.pauseResume = () => call(c.b.pause, () => post(`/api/v1/mixing/${id}/${c.info && c.info.state_name === 'PAUSED' ? 'resume' : 'pause'}`));
		const setter = (ctl, key, conv) => {
			const send = throttle(async () => {
				try {
					update(c, await put(`/api/v1/mixing/${id}`, { [key]: conv(ctl.r.value) }));
					setError(c, null);
				} catch (e) {
					setError(c, e);
				}
				setTimeout(() => c.dirty.delete(key), 800);
			}, 120);
			ctl.r.addEventListener('input', () => {
				c.dirty.set(key, true);
				ctl.out.textContent = ctl === c.pos ? fmtMs(Number(ctl.r.value)) : `${ctl.r.value}${ctl.out.textContent.replace(/^-?[0-9.]+/, '')}`;
				if (c.info)
					send();
			});
		};
		setter(c.volume, 'volume', Number);
		setter(c.pitch, 'pitch', Number);
		setter(c.speed, 'speed', Number);
		setter(c.pos, 'position_ms', Number);
		c.track.addEventListener('change', () => call(null, () => put(`/api/v1/mixing/${id}`, { track: Number(c.track.value) })));
		reset(c);
		return c;
	}

	function setError(c, e) {
		c.err.replaceChildren(...(e ? errorNodes(e) : []));
		c.err.classList.toggle('error', !!e);
	}

	function reset(c) {
		c.info = null;
		c.el.dataset.state = 'EMPTY';
		c.stateEl.replaceChildren(pill('EMPTY'));
		c.title.textContent = `Cart ${c.id}`;
		c.b.pause.disabled = c.b.stop.disabled = c.b.unload.disabled = true;
		c.b.pause.textContent = 'Pause';
		c.pos.r.disabled = true;
		c.pos.out.textContent = '–';
		c.track.disabled = true;
	}

	function update(c, info) {
		c.info = info;
		const st = info.state_name;
		c.el.dataset.state = st;
		c.el.dataset.volume = String(info.volume.publish);
		c.stateEl.replaceChildren(pill(st));
		c.title.textContent = `Cart ${c.id}: ${info.file}`;
		c.title.title = info.path;
		if (!c.file.value && document.activeElement !== c.file)
			c.file.value = info.file;
		const live = st === 'PLAYING' || st === 'PAUSED';
		c.b.pause.disabled = !live;
		c.b.pause.textContent = st === 'PAUSED' ? 'Resume' : 'Pause';
		c.b.stop.disabled = !live;
		c.b.unload.disabled = false;
		if (!c.dirty.has('volume'))
			setRange(c.volume, Math.max(info.volume.publish, info.volume.playout), ' %');
		if (!c.dirty.has('pitch'))
			setRange(c.pitch, info.pitch, ' st');
		if (!c.dirty.has('speed'))
			setRange(c.speed, info.speed, ' %');
		c.pos.r.max = String(Math.max(1, info.duration_ms));
		c.pos.r.disabled = !live;
		if (!c.dirty.has('position_ms')) {
			c.pos.r.value = String(Math.max(0, info.position_ms));
			c.pos.out.textContent = fmtMs(info.position_ms);
		}
		c.pos.r.setAttribute('aria-valuetext', `${fmtMs(info.position_ms)} of ${fmtMs(info.duration_ms)}`);
		c.pos.out.title = `duration ${fmtMs(info.duration_ms)}`;
		if (info.tracks > 0 && c.track.options.length !== info.tracks)
			c.track.replaceChildren(...Array.from({ length: info.tracks }, (_, i) => h('option', { value: String(i) }, String(i + 1))));
		c.track.value = String(info.track);
		c.track.disabled = !live || info.tracks < 2;
		if (info.last_error && !c.err.textContent)
			c.err.replaceChildren(h('span', { class: 'dim' }, 'last error '),
				...errorNodes({ domain: 'audio_mixing', code: info.last_error, name: info.last_error_name, message: '' }));
	}

	function setRange(ctl, v, unit) {
		ctl.r.value = String(v);
		ctl.out.textContent = `${v}${unit}`;
	}

	async function refresh() {
		try {
			const list = await get('/api/v1/mixing');
			const seen = new Set();
			for (const info of list.mixing) {
				seen.add(info.id);
				update(cartFor(info.id), info);
			}
			for (const [id, c] of carts)
				if (!seen.has(id) && c.info)
					reset(c);
			showError(listErr, null);
		} catch (e) {
			showError(listErr, e);
		}
	}

	async function refreshMedia() {
		try {
			const r = await get('/api/v1/media');
			media = r.files;
			datalist.replaceChildren(...media.map((m) => h('option', { value: m.name }, fmtBytes(m.size))));
			mediaNote.textContent = `${media.length} file(s)`;
			mediaList.replaceChildren(table(['File', 'Length', 'Format', 'Size', ''], media.map((m) => {
				const rm = h('button', { type: 'button', class: 'small danger', 'aria-label': `Delete ${m.name}` }, 'Delete');
				rm.onclick = () => {
					if (confirm(`Delete ${m.name} from the media folder?`))
						act(rm, uploadErr, async () => {
							await del(`/api/v1/media/${encodeURIComponent(m.name)}`);
							await refreshMedia();
						});
				};
				return h('tr', {}, td(m.name), td(m.duration_s === null ? 'not audio' : fmtDuration(m.duration_s), 'num'),
					td(m.format ? `${m.format}, ${m.sample_rate / 1000} kHz, ${m.channels} ch` : '–'), td(fmtBytes(m.size), 'num'), td(rm));
			}), ['Length', 'Size']));
		} catch (e) {
			mediaNote.textContent = missing(e) ? 'not available on this server: type file names by hand' : e.message;
		}
	}

	async function upload(files) {
		showError(uploadErr, null);
		for (const f of files) {
			if (!AUDIO.test(f.name)) {
				showError(uploadErr, new Error(`${f.name}: not a file the media folder takes (wav, rf64, flac, ogg, opus, mp3)`));
				continue;
			}
			mediaNote.textContent = `Uploading ${f.name} (${fmtBytes(f.size)})…`;
			try {
				await api('POST', `/api/v1/media?name=${encodeURIComponent(f.name)}`, undefined, { raw: f, type: 'application/octet-stream' });
			} catch (e) {
				showError(uploadErr, e);
			}
		}
		await refreshMedia();
	}

	for (let i = 1; i <= SLOTS; i++)
		cartFor(i);
	stopAll.onclick = () => act(stopAll, listErr, async () => {
		await post('/api/v1/mixing/stop_all');
		await refresh();
	});
	fileInput.addEventListener('change', () => upload([...fileInput.files]));
	drop.addEventListener('dragover', (e) => {
		e.preventDefault();
		drop.classList.add('over');
	});
	drop.addEventListener('dragleave', () => drop.classList.remove('over'));
	drop.addEventListener('drop', (e) => {
		e.preventDefault();
		drop.classList.remove('over');
		upload([...e.dataTransfer.files]);
	});

	ctx.stream.on('event', (ev) => {
		if (ev.event !== 'audio_mixing.state' || !ev.data)
			return;
		const c = cartFor(ev.data.id);
		if (ev.data.error)
			setError(c, { domain: ev.domain, code: ev.code, name: ev.name, message: ev.message });
		if (visible)
			refresh();
	});
	ctx.stream.on('meters', (f) => {
		if (!visible)
			return;
		const peaks = new Map(f.nodes.map((n) => [n.id, n.peak_dbfs]));
		for (const c of carts.values()) {
			const p = c.info && c.info.node_id ? peaks.get(c.info.node_id) : null;
			const vals = p ? p.filter((v) => v !== null) : [];
			const db = vals.length ? Math.max(...vals) : null;
			c.meter.firstChild.style.width = `${db === null ? 0 : Math.max(0, (db + 60) / 60 * 100)}%`;
			c.meter.setAttribute('aria-valuenow', db === null ? '-60' : db.toFixed(1));
			c.el.dataset.peak = db === null ? '' : db.toFixed(1);
		}
	});

	document.addEventListener('keydown', (e) => {
		if (!visible || e.ctrlKey || e.altKey || e.metaKey || !/^Digit[1-9]$/.test(e.code))
			return;
		const t = e.target;
		if (t.matches && t.matches('input:not([type=range]):not([type=checkbox]), select, textarea'))
			return;
		const el = grid.children[Number(e.code.slice(5)) - 1];
		if (!el)
			return;
		e.preventDefault();
		const c = carts.get(Number(el.dataset.id));
		const st = c.info && c.info.state_name;
		if (e.shiftKey) {
			if (st === 'PLAYING' || st === 'PAUSED')
				c.pauseResume();
		} else if (st === 'PLAYING' || st === 'PAUSED') {
			c.stop();
		} else {
			c.play();
		}
	});

	let timer = null;
	return {
		show() {
			visible = true;
			refresh();
			refreshMedia();
			timer = setInterval(refresh, 1000);
		},
		hide() {
			visible = false;
			clearInterval(timer);
		},
	};
}
