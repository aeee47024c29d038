// recordings.js - takes: start (track picker, format, bits, name, split),
// stop, markers, the list with duration, size and overruns, downloads and
// delete; the radio logger's status and its own start form.

import { get, post, del } from '../api.js';
import { h, field, showError, fmtDuration, fmtBytes, fmtTime, act, pill, table, td } from '../ui.js';

export function create(section, ctx) {
	const tracksBox = h('div', { class: 'row', id: 'rec-tracks', role: 'group', 'aria-label': 'Tracks to record' });
	const format = h('select', { id: 'rec-format' }, h('option', { value: 'wav' }, 'WAV / RF64 (BWF)'), h('option', { value: 'flac' }, 'FLAC'));
	const bits = h('select', { id: 'rec-bits' }, ['16', '24', '32'].map((b) => h('option', { value: b, selected: b === '24' }, `${b} bit`)));
	const name = h('input', { id: 'rec-name', placeholder: '%Y%m%d-%H%M%S-{track}', maxlength: '255' });
	const desc = h('input', { id: 'rec-desc', maxlength: '255' });
	const split = h('input', { id: 'rec-split', type: 'number', min: '1', max: '1440', placeholder: 'off' });
	const start = h('button', { type: 'submit', class: 'go', id: 'rec-start' }, 'Start take');
	const startErr = h('p', { id: 'rec-start-error', hidden: true });
	const form = h('form', { class: 'panel stack', id: 'rec-form' },
		h('h3', {}, 'New take'),
		h('fieldset', {}, h('legend', {}, 'Tracks (one file each, sample-aligned)'), tracksBox),
		h('div', { class: 'row' }, field('Format', format), field('Bits', bits), field('Name template', name),
			field('Description', desc), field('Split every (min)', split), start),
		startErr);

	const logKeep = h('input', { id: 'log-keep', type: 'number', min: '0', max: '36500', value: '90' });
	const logMax = h('input', { id: 'log-max', type: 'number', min: '0', value: '0' });
	const logStart = h('button', { type: 'submit', id: 'log-start' }, 'Start logger');
	const logStatus = h('p', { id: 'logger-status' });
	const logErr = h('p', { hidden: true });
	const logForm = h('form', { class: 'panel stack', id: 'logger-form' },
		h('h3', {}, 'Radio logger'), logStatus,
		h('div', { class: 'row' }, field('Keep (days)', logKeep), field('At most (MB, 0 = no limit)', logMax), logStart), logErr);

	const list = h('div', { class: 'scroll', id: 'rec-list' });
	const listErr = h('p', { hidden: true });
	section.append(h('h2', { id: 'h-recordings' }, 'Recordings'),
		h('div', { class: 'grid2' }, form, logForm),
		h('h3', { style: 'margin-top:1rem' }, 'Takes'), listErr, list);

	let chosen = new Set(['publish']);
	function renderTracks() {
		const opts = [['publish', 'Publish bus (programme)'], ['playout', 'Playout bus (monitor)']];
		for (const n of ctx.graph.nodes.filter((n) => n.id > 2))
			opts.push([String(n.id), `${n.name} (node ${n.id})`]);
		tracksBox.replaceChildren(...opts.map(([v, t]) => {
			const cb = h('input', { type: 'checkbox', id: `rec-track-${v}`, value: v, checked: chosen.has(v) });
			cb.onchange = () => (cb.checked ? chosen.add(v) : chosen.delete(v));
			return h('label', { for: cb.id, style: 'display:flex;gap:.3rem;align-items:center;color:var(--text)' }, cb, t);
		}));
	}
	ctx.graph.onChange(renderTracks);

	form.addEventListener('submit', (e) => {
		e.preventDefault();
		const body = { tracks: [...chosen], format: format.value, bits: Number(bits.value) };
		if (!body.tracks.length) {
			showError(startErr, new Error('choose at least one track'));
			return;
		}
		if (name.value.trim())
			body.name = name.value.trim();
		if (desc.value.trim())
			body.description = desc.value.trim();
		if (split.value)
			body.split_minutes = Number(split.value);
		act(start, startErr, async () => {
			await post('/api/v1/recordings', body);
			await refresh();
		});
	});
	logForm.addEventListener('submit', (e) => {
		e.preventDefault();
		act(logStart, logErr, async () => {
			await post('/api/v1/recordings', { logger: true, logger_keep_days: Number(logKeep.value || 0), logger_max_mb: Number(logMax.value || 0) });
			await refresh();
		});
	});

	function takeRow(t) {
		const err = h('div', { hidden: true });
		const size = t.files.reduce((a, f) => a + f.bytes, 0);
		const dropped = t.files.reduce((a, f) => a + f.dropped_frames, 0);
		const actions = h('div', { class: 'row' });
		if (t.state === 'recording') {
			const stop = h('button', { type: 'button', class: 'small danger', id: `take-${t.id}-stop` }, 'Stop');
			stop.onclick = () => act(stop, err, async () => {
				await post(`/api/v1/recordings/${t.id}/stop`);
				await refresh();
			});
			const label = h('input', { id: `take-${t.id}-label`, placeholder: 'marker label', maxlength: '200', 'aria-label': `Marker label for take ${t.id}` });
			const mark = h('button', { type: 'button', class: 'small', id: `take-${t.id}-mark` }, 'Mark');
			mark.onclick = () => act(mark, err, async () => {
				await post(`/api/v1/recordings/${t.id}/markers`, { label: label.value });
				label.value = '';
				await refresh();
			});
			actions.append(stop, label, mark);
		} else {
			const rm = h('button', { type: 'button', class: 'small danger', id: `take-${t.id}-delete` }, 'Delete');
			rm.onclick = () => {
				if (!confirm(`Delete take ${t.id} and its ${t.file_count} file(s)?`))
					return;
				act(rm, err, async () => {
					await del(`/api/v1/recordings/${t.id}`);
					await refresh();
				});
			};
			actions.append(rm);
		}
		const files = h('ul', { style: 'margin:0;padding-left:1rem' }, t.files.map((f) =>
			h('li', {}, t.state === 'recording'
				? `${f.name} `
				: h('a', { href: `/api/v1/recordings/${t.id}/files/${f.index}`, download: f.name, id: `take-${t.id}-file-${f.index}` }, f.name),
			h('span', { class: 'dim' }, ` ${f.track}, ${fmtBytes(f.bytes)}${f.dropped_frames ? `, ${f.dropped_frames} frames dropped` : ''}`))));
		const markers = t.markers.length ? h('div', { class: 'dim' }, 'Markers: ',
			t.markers.map((m) => `${fmtDuration(m.seconds)} ${m.label}`).join(' · ')) : null;
		return h('tr', { id: `take-${t.id}`, dataset: { state: t.state } },
			td(String(t.id), 'num'), td(pill(t.state)), td(fmtTime(t.started_us)),
			td(fmtDuration(t.seconds), 'num'), td(fmtBytes(size), 'num'),
			td(`${t.overrun_frames} frames${dropped ? ` (${dropped} dropped)` : ''}`, 'num'),
			td(`${t.format.toUpperCase()} ${t.bits} bit${t.logger ? ', logger' : ''}${t.part ? `, part ${t.part}` : ''}`),
			td([files, markers, t.error ? h('p', { class: 'error' }, h('code', {}, `recorder ${t.error.code}`), ` ${t.error.name}: ${t.error.message}`) : null]),
			td([actions, err]));
	}

	async function refresh() {
		let r;
		try {
			r = await get('/api/v1/recordings');
			showError(listErr, null);
		} catch (e) {
			showError(listErr, e);
			return;
		}
		const typing = document.activeElement;
		if (list.contains(typing) && typing.tagName === 'INPUT' && typing.value)
			return;	/* a marker label is being typed */
		const takes = r.recordings.slice().reverse();
		list.replaceChildren(takes.length
			? table(['Take', 'State', 'Started', 'Length', 'Size', 'Overruns', 'Format', 'Files', ''], takes.map(takeRow), ['Take', 'Length', 'Size', 'Overruns'])
			: h('p', { class: 'dim' }, 'No takes yet.'));
		const loggers = r.recordings.filter((t) => t.logger && t.state === 'recording');
		logStatus.replaceChildren(loggers.length
			? h('span', {}, pill('recording'), ` take ${loggers[0].id}: files cut every ${fmtDuration(loggers[0].logger_period_s)}, part ${loggers[0].part || 1}, ${fmtDuration(loggers[0].seconds)} so far`)
			: h('span', { class: 'dim' }, 'The logger is not running.'));
		logStart.disabled = loggers.length > 0;
	}

	let timer = null;
	return {
		show() {
			renderTracks();
			refresh();
			timer = setInterval(refresh, 2000);
		},
		hide() {
			clearInterval(timer);
		},
	};
}
