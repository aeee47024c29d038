// streams.js - CDN push tasks (RTMP/AAC and Icecast/Opus): state, bitrate,
// reconnects, bytes, last error; start and stop.

import { get, post, del } from '../api.js';
import { h, field, showError, fmtBytes, fmtDuration, act, pill, table, td } from '../ui.js';

export function create(section, ctx) {
	const kind = h('select', { id: 'cdn-kind' }, h('option', { value: 'rtmp' }, 'RTMP (AAC)'), h('option', { value: 'icecast' }, 'Icecast (Opus)'));
	const taskId = h('input', { id: 'cdn-id', required: true, maxlength: '126', pattern: '[^/_][^/]*|_', placeholder: 'main' });
	const url = h('input', { id: 'cdn-url', placeholder: 'rtmp://cdn.example/live/KEY', pattern: 'rtmps?://.+', size: '40' });
	const rate = h('select', { id: 'cdn-rate' }, ['48000', '44100', '32000'].map((r) => h('option', { value: r }, `${r / 1000} kHz`)));
	const channels = h('select', { id: 'cdn-channels' }, h('option', { value: '2' }, 'stereo'), h('option', { value: '1' }, 'mono'));
	const bitrate = h('input', { id: 'cdn-bitrate', type: 'number', min: '32', max: '192', value: '64' });
	const ice = {
		host: h('input', { id: 'ice-host', value: '127.0.0.1' }),
		port: h('input', { id: 'ice-port', type: 'number', min: '1', max: '65535', value: '8000' }),
		mount: h('input', { id: 'ice-mount', value: '/live.opus', pattern: '/.*' }),
		user: h('input', { id: 'ice-user', value: 'source' }),
		password: h('input', { id: 'ice-password', type: 'password', autocomplete: 'off' }),
		name: h('input', { id: 'ice-name' }),
	};
	const rtmpBox = h('div', { class: 'row' }, field('URL', url), field('Sample rate', rate));
	const iceBox = h('div', { class: 'row', hidden: true }, field('Host', ice.host), field('Port', ice.port), field('Mount', ice.mount),
		field('User', ice.user), field('Password', ice.password), field('Stream name', ice.name));
	kind.onchange = () => {
		rtmpBox.hidden = kind.value !== 'rtmp';
		iceBox.hidden = kind.value === 'rtmp';
		url.required = kind.value === 'rtmp';
	};
	url.required = true;
	const start = h('button', { type: 'submit', class: 'go', id: 'cdn-start' }, 'Start stream');
	const startErr = h('p', { hidden: true, id: 'cdn-start-error' });
	const form = h('form', { class: 'panel stack', id: 'cdn-form' }, h('h3', {}, 'New stream'),
		h('div', { class: 'row' }, field('Task id', taskId), field('Kind', kind), field('Channels', channels), field('Bitrate (kb/s)', bitrate)),
		rtmpBox, iceBox, h('div', { class: 'row' }, start), startErr);
	const list = h('div', { class: 'scroll', id: 'cdn-list' });
	const listErr = h('p', { hidden: true });
	section.append(h('h2', { id: 'h-streams' }, 'Streams'), form, h('h3', { style: 'margin-top:1rem' }, 'Tasks'), listErr, list);

	form.addEventListener('submit', (e) => {
		e.preventDefault();
		const body = { channels: Number(channels.value), bitrate_kbps: Number(bitrate.value) };
		if (kind.value === 'rtmp') {
			body.url = url.value.trim();
			body.sample_rate = Number(rate.value);
		} else {
			body.icecast = { host: ice.host.value, port: Number(ice.port.value), mount: ice.mount.value, user: ice.user.value, password: ice.password.value };
			if (ice.name.value)
				body.icecast.name = ice.name.value;
		}
		act(start, startErr, async () => {
			await post(`/api/v1/cdn/${encodeURIComponent(taskId.value.trim() || '_')}`, body);
			await refresh();
		});
	});

	function row(t) {
		const err = h('div', { hidden: true });
		const stop = h('button', { type: 'button', class: 'small danger', id: `cdn-${t.task_id || '_'}-stop` }, 'Stop');
		stop.onclick = () => act(stop, err, async () => {
			await del(`/api/v1/cdn/${encodeURIComponent(t.task_id || '_')}`);
			await refresh();
		});
		const where = t.kind === 'rtmp' ? t.url : `icecast://${t.icecast.host}:${t.icecast.port}${t.icecast.mount}`;
		return h('tr', { id: `cdn-${t.task_id || '_'}` },
			td(t.task_id || '(default)'), td(pill(t.state)), td(where),
			td(`${t.codec.toUpperCase()} ${t.bitrate_kbps} kb/s, ${t.sample_rate / 1000} kHz, ${t.channels === 2 ? 'stereo' : 'mono'}`),
			td(String(Math.max(0, t.connects - 1)), 'num'), td(fmtBytes(t.bytes_sent), 'num'),
			td(`${t.frames_dropped} frames`, 'num'), td(fmtDuration(t.uptime_s), 'num'),
			td(t.last_error ? h('span', { class: 'error' }, h('code', {}, `stream_mixing ${t.last_error}`), ` ${t.last_error_name}: ${t.last_message}`) : h('span', { class: 'dim' }, t.last_message || '–')),
			td([stop, err]));
	}

	async function refresh() {
		try {
			const r = await get('/api/v1/cdn');
			list.replaceChildren(r.tasks.length
				? table(['Task', 'State', 'Destination', 'Audio', 'Reconnects', 'Sent', 'Dropped', 'Up', 'Last error', ''], r.tasks.map(row), ['Reconnects', 'Sent', 'Dropped', 'Up'])
				: h('p', { class: 'dim' }, 'No streams.'));
			showError(listErr, null);
		} catch (e) {
			showError(listErr, e);
		}
	}

	ctx.stream.on('event', (ev) => {
		if (ev.domain === 'stream_mixing' && !section.hidden)
			refresh();
	});

	let timer = null;
	return {
		show() {
			refresh();
			timer = setInterval(refresh, 2000);
		},
		hide() {
			clearInterval(timer);
		},
	};
}
