// guests.js - rooms and their remote users: published tracks with volume,
// mute and pan, live stats, a token link for a new guest, kick, dismiss.
// Says "not available" while the server has no /api/v1/rooms routes.

import { get, post, put, del, missing } from '../api.js';
import { h, field, showError, act, pill, table, td } from '../ui.js';

export function create(section, ctx) {
	const unavailable = h('p', { class: 'muted-note', id: 'guests-unavailable', hidden: true },
		'Guests are not available on this server yet (no /api/v1/rooms).');
	const roomName = h('input', { id: 'room-new', required: true, maxlength: '128', pattern: '[A-Za-z0-9_@\\-]+', placeholder: 'studio-a' });
	const create = h('button', { type: 'submit', class: 'go', id: 'room-create' }, 'Create room');
	const createErr = h('p', { hidden: true });
	const form = h('form', { class: 'panel row', id: 'room-form' }, field('Room id', roomName), create, createErr);
	const rooms = h('div', { class: 'stack', id: 'rooms' });
	const err = h('p', { hidden: true });
	section.append(h('h2', { id: 'h-guests' }, 'Guests'), unavailable, form, err, rooms);
	const isAdmin = () => ctx.session().role === 'admin';

	function userRow(room, u) {
		const id = u.user;
		const e = h('div', { hidden: true });
		const base = `/api/v1/rooms/${encodeURIComponent(room)}/users/${encodeURIComponent(id)}`;
		const node = u.node_id ? ctx.graph.byId.get(u.node_id) : null;
		const vol = h('input', { type: 'range', min: '0', max: '400', value: String(node ? Math.round(node.gain * 100) : 100), 'aria-label': `Volume of ${id}`, disabled: !u.publishing });
		const volOut = h('output', { class: 'mono' }, `${vol.value} %`);
		const pan = h('input', { type: 'range', min: '-100', max: '100', value: String(node ? Math.round(node.pan * 100) : 0), 'aria-label': `Pan of ${id} (left -100, right 100)`, disabled: !u.publishing });
		const mute = h('input', { type: 'checkbox', checked: !!(node && node.mute), 'aria-label': `Mute ${id}`, disabled: !u.publishing });
		const send = (body) => act(null, e, () => put(base, body));
		vol.oninput = () => (volOut.textContent = `${vol.value} %`);
		vol.onchange = () => send({ volume: Number(vol.value) });
		pan.onchange = () => send({ pan: Number(pan.value) / 100 });
		mute.onchange = () => send({ mute: mute.checked });
		const kick = h('button', { type: 'button', class: 'small danger', 'aria-label': `Kick ${id}` }, 'Kick');
		kick.onclick = () => act(kick, e, async () => {
			await del(base);
			await refresh();
		});
		const st = u.stats;
		const stats = st ? `${st.receiving ? 'receiving' : 'no audio'}, ${st.lost}/${st.packets} lost, jitter ${st.jitter_ms.toFixed(1)} ms, ` +
			`buffer ${st.buffer_ms.toFixed(0)} ms, delay ${st.delay_ms.toFixed(0)} ms, ${st.plc_frames} concealed` : '–';
		const state = u.publishing ? (u.pending ? 'starting' : 'publishing') : u.visible ? 'joined' : 'hidden';
		return h('tr', { dataset: { user: id } }, td(id), td(pill(state)),
			td(h('div', { class: 'row' }, vol, volOut)), td(mute), td(pan),
			td(h('span', { class: 'mono dim' }, stats)),
			td([isAdmin() ? kick : null, e]));
	}

	// Forwarding this room's programme to up to 4 other rooms (here or on
	// another airmixd): the targets with their ForwardStreamState and error.
	async function forwardBox(room, e) {
		const base = `/api/v1/rooms/${encodeURIComponent(room)}/forward`;
		const box = h('fieldset', { class: 'stack' }, h('legend', {}, 'Forwarding to other rooms'));
		let fw = null;
		try {
			fw = await get(base);
		} catch (x) {
			if (missing(x)) {
				box.append(h('p', { class: 'muted-note' }, 'Forwarding is not available on this server.'));
				return box;
			}
			showError(e, x);
		}
		const targets = fw ? fw.targets : [];
		if (targets.length)
			box.append(table(['Target room', 'State', 'Where', 'Error', 'Sent'], targets.map((t) => h('tr', {},
				td(t.room), td(pill(t.state_name.toLowerCase())), td(h('span', { class: 'mono dim' }, t.url)),
				td(t.error ? h('span', { class: 'error' }, h('code', {}, `forward_stream ${t.error}`), ` ${t.error_name}`) : '–'),
				td(t.return ? `${t.return.packets} packets` : '–', 'num')))));
		const troom = h('input', { required: true, maxlength: '128', placeholder: 'other-room' });
		const ttoken = h('input', { required: true, placeholder: '001…', class: 'mono' });
		const turl = h('input', { placeholder: 'ws://host:8080/rtc or wss://... (empty: this airmixd)' });
		const add = h('button', { type: 'submit', class: 'small' }, 'Start forwarding');
		const form = h('form', { class: 'row' }, field('Target room', troom), field('Token for that room', ttoken), field('Other airmixd', turl), add);
		form.onsubmit = (ev) => {
			ev.preventDefault();
			const t = { room: troom.value, token: ttoken.value };
			if (turl.value.trim())
				t.url = turl.value.trim();
			act(add, e, async () => {
				await post(base, { targets: [t] });
				await refresh();
			});
		};
		if (!targets.length) {
			box.append(form);
		} else {
			const stop = h('button', { type: 'button', class: 'small danger' }, 'Stop forwarding');
			stop.onclick = () => act(stop, e, async () => {
				await del(base);
				await refresh();
			});
			const pause = h('button', { type: 'button', class: 'small' }, fw.paused ? 'Resume' : 'Pause');
			pause.onclick = () => act(pause, e, async () => {
				await post(`${base}/${fw.paused ? 'resume' : 'pause'}`);
				await refresh();
			});
			box.append(h('div', { class: 'row' }, pause, stop,
				h('span', { class: 'dim' }, 'To change the targets, stop and start again with their tokens.')));
		}
		return box;
	}

	async function roomPanel(r) {
		const room = r.room;
		const e = h('p', { hidden: true });
		const users = h('div');
		try {
			const u = (await get(`/api/v1/rooms/${encodeURIComponent(room)}/users`)).users;
			users.replaceChildren(u.length
				? table(['User', 'State', 'Volume', 'Mute', 'Pan', 'Stats', ''], u.map((x) => userRow(room, x)))
				: h('p', { class: 'dim' }, 'Nobody in this room.'));
		} catch (x) {
			showError(e, x);
		}
		const guest = h('input', { required: true, maxlength: '128', pattern: '[A-Za-z0-9_@\\-]+', placeholder: 'guest-1' });
		const expire = h('input', { type: 'number', min: '60', max: '31622400', value: '86400' });
		const token = h('input', { readonly: true, class: 'mono', size: '60', 'aria-label': `Token for the guest of ${room}`,
			value: tokens.get(room) || '', hidden: !tokens.has(room) });
		const copy = h('button', { type: 'button', class: 'small', hidden: !tokens.has(room) }, 'Copy token');
		copy.onclick = () => navigator.clipboard && navigator.clipboard.writeText(token.value);
		const mkToken = h('button', { type: 'submit', class: 'small' }, 'Create guest token');
		const tokenForm = h('form', { class: 'row' }, field('Guest user id', guest), field('Valid for (s)', expire), mkToken);
		tokenForm.onsubmit = (ev) => {
			ev.preventDefault();
			act(mkToken, e, async () => {
				const t = await post(`/api/v1/rooms/${encodeURIComponent(room)}/tokens`, { user: guest.value, expire_s: Number(expire.value) });
				token.value = t.token;
				tokens.set(room, t.token);
				guest.value = '';
				token.hidden = copy.hidden = false;
				token.select();
			});
		};
		const link = h('div', { class: 'row' }, token, copy);
		const dismiss = h('button', { type: 'button', class: 'small danger' }, 'Dismiss room');
		dismiss.onclick = () => {
			if (!confirm(`Dismiss room ${room}? Everyone in it is disconnected.`))
				return;
			act(dismiss, e, async () => {
				await del(`/api/v1/rooms/${encodeURIComponent(room)}`);
				await refresh();
			});
		};
		return h('div', { class: 'panel stack', id: `room-${room}` }, h('div', { class: 'row' }, h('h3', { style: 'flex:1' }, `Room ${room}`),
			h('span', { class: 'dim' }, `${r.users_total} user(s), ${r.streams} stream(s)`), isAdmin() ? dismiss : null),
			users, isAdmin() ? tokenForm : null, link, isAdmin() ? await forwardBox(room, e) : null, e);
	}

	// A timed or event-driven refresh (soft) leaves the rooms alone while a
	// slider is held or a form in them holds typed text; an action's refresh
	// redraws them. Issued tokens are kept across redraws.
	const tokens = new Map();
	let holding = false;
	rooms.addEventListener('pointerdown', () => (holding = true));
	window.addEventListener('pointerup', () => (holding = false));
	const busy = () => holding ||
		[...rooms.querySelectorAll('form input')].some((i) => i.value !== i.defaultValue);

	async function refresh(soft) {
		if (soft && busy())
			return;
		try {
			const r = (await get('/api/v1/rooms')).rooms;
			unavailable.hidden = true;
			form.hidden = !isAdmin();
			rooms.replaceChildren(...(r.length ? await Promise.all(r.map(roomPanel)) : [h('p', { class: 'dim' }, 'No rooms.')]));
			showError(err, null);
		} catch (e) {
			if (missing(e)) {
				unavailable.hidden = false;
				form.hidden = true;
				rooms.replaceChildren();
				showError(err, null);
			} else {
				showError(err, e);
			}
		}
	}

	form.onsubmit = (ev) => {
		ev.preventDefault();
		act(create, createErr, async () => {
			await post('/api/v1/rooms', { room: roomName.value });
			roomName.value = '';
			await refresh();
		});
	};
	ctx.stream.on('event', (ev) => {
		if ((ev.domain === 'rtc' || ev.domain === 'forward_stream') && !section.hidden)
			refresh(true);
	});

	let timer = null;
	return {
		show() {
			refresh();
			timer = setInterval(() => refresh(true), 3000);
		},
		hide() {
			clearInterval(timer);
		},
	};
}
