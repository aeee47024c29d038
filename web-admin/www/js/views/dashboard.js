// dashboard.js - the meter bridge (both buses and every source), the clock
// and engine figures (rate, period, DSP load, xruns, uptime), and what is on
// air: takes recording, CDN tasks, carts playing.

import { get } from '../api.js';
import { h, fmtDuration, showError, pill } from '../ui.js';
import { MeterBridge } from '../meters.js';

export function create(section, ctx) {
	const canvas = h('canvas', { id: 'meter-bridge', role: 'img', 'aria-label': 'Meter bridge: peak and RMS per node in dBFS' });
	const live = h('p', { class: 'dim', id: 'meter-text', 'aria-live': 'off' });
	const stat = {};
	const dd = (key, title) => {
		stat[key] = h('dd', { class: 'mono', id: `stat-${key}` }, '–');
		return [h('dt', {}, title), stat[key]];
	};
	const onAir = h('ul', { class: 'on-air', id: 'on-air' });
	const err = h('p', { hidden: true });
	section.append(
		h('h2', { id: 'h-dashboard' }, 'Dashboard'),
		err,
		h('div', { class: 'dash' },
			h('div', { class: 'panel' }, canvas, live),
			h('div', { class: 'stack' },
				h('div', { class: 'panel' }, h('h3', {}, 'Engine'),
					h('dl', { class: 'stats' },
						dd('clock', 'Clock'), dd('rate', 'Rate'), dd('period', 'Period'),
						dd('load', 'DSP load'), dd('xruns', 'Xruns'), dd('uptime', 'Uptime'),
						dd('nodes', 'Nodes'), dd('clients', 'Event clients'))),
				h('div', { class: 'panel' }, h('h3', {}, 'On air'), onAir))));

	const bridge = new MeterBridge(canvas, live);
	ctx.graph.onChange((nodes) => bridge.setNames(nodes));
	ctx.stream.on('meters', (f) => {
		bridge.push(f);
		if (!section.hidden) {
			stat.xruns.textContent = String(f.xruns);
			stat.load.textContent = `${(f.dsp_load * 100).toFixed(1)} %`;
		}
	});
	let timer = null;
	async function refresh() {
		try {
			const hl = await get('/api/v1/health');
			const rate = hl.rate, period = hl.period;
			stat.clock.replaceChildren(hl.clock, ' ', hl.clock_lost ? pill('failed') : hl.running ? '' : pill('stopped'));
			stat.rate.textContent = `${(rate / 1000).toFixed(rate % 1000 ? 1 : 0)} kHz`;
			stat.period.textContent = `${period} frames (${(period / rate * 1000).toFixed(2)} ms)`;
			stat.load.textContent = `${(hl.dsp_load * 100).toFixed(1)} %`;
			stat.load.title = `average ${(hl.dsp_load_avg * 100).toFixed(1)} %, max ${(hl.dsp_load_max * 100).toFixed(1)} %`;
			stat.xruns.textContent = String(hl.xruns);
			stat.uptime.textContent = fmtDuration(hl.uptime_s);
			stat.nodes.textContent = String(hl.nodes);
			stat.clients.textContent = `${hl.web.ws_clients} / ${hl.web.max_ws_clients}`;
			showError(err, null);
		} catch (e) {
			showError(err, e);
		}
		const items = [];
		const [recs, cdn, mix] = await Promise.allSettled([get('/api/v1/recordings'), get('/api/v1/cdn'), get('/api/v1/mixing')]);
		if (recs.status === 'fulfilled')
			for (const t of recs.value.recordings.filter((t) => t.state === 'recording'))
				items.push(h('li', {}, pill('recording'), ` take ${t.id}${t.logger ? ' (logger)' : ''}: `,
					t.files.map((f) => f.track).join(', '), ` – ${fmtDuration(t.seconds)}`));
		if (cdn.status === 'fulfilled')
			for (const t of cdn.value.tasks)
				items.push(h('li', {}, pill(t.state), ` stream ${t.task_id || '(default)'} → `,
					t.kind === 'rtmp' ? t.url.replace(/\/[^/]*$/, '/…') : `${t.icecast.host}:${t.icecast.port}${t.icecast.mount}`,
					` ${t.bitrate_kbps} kb/s`));
		if (mix.status === 'fulfilled')
			for (const m of mix.value.mixing.filter((m) => m.state_name === 'PLAYING'))
				items.push(h('li', {}, pill('PLAYING'), ` cart ${m.id}: ${m.file}`));
		onAir.replaceChildren(...(items.length ? items : [h('li', { class: 'dim' }, 'Nothing recording, streaming or playing.')]));
	}

	return {
		show() {
			bridge.start();
			refresh();
			timer = setInterval(refresh, 2000);
		},
		hide() {
			bridge.stop();
			clearInterval(timer);
		},
	};
}
