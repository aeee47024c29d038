// guests.js - rooms and their remote users: published tracks with volume,
// mute and pan, live stats, a token link for a new guest, kick, dismiss.
// Says "not available" while the server has no /api/v1/rooms routes.

import { get, post, put, del, missing } from '../api.js';
import { h, field, showError, act, pill, table, td } from '../ui.js';

function list(r, ...keys) {
	if (Array.isArray(r))
		return r;
	for (const k of keys)
		if (r && Array.isArray(r[k]))
			return r[k];
	return [];
}

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
		const id = u.user || u.user_id || u.id;
		const e = h('div', { hidden: true });
		const base = `/api/v1/rooms/${encodeURIComponent(room)}/users/${encodeURIComponent(id)}`;
		const vol = h('input', { type: 'range', min: '0', max: '400', value: String(u.volume ?? 100), 'aria-label': `Volume of ${id}` });
		const volOut = h('output', { class: 'mono' }, `${vol.value} %`);
		const pan = h('input', { type: 'range', min: '-100', max: '100', value: String(Math.round((u.pan ?? 0) * 100)), 'aria-label': `Pan of ${id}` });
		const mute = h('input', { type: 'checkbox', checked: !!u.mute, 'aria-label': `Mute ${id}` });
		const send = (body) => act(null, e, () => put(base, body));
		vol.oninput = () => (volOut.textContent = `${vol.value} %`);
		vol.onchange = () => send({ volume: Number(vol.value) });
		pan.onchange = () => send({ pan: Number(pan.value) / 100 });
		mute.onchange = () => send({ mute: mute.checked });
		const kick = h('button', { type: 'button', class: 'small danger' }, 'Kick');
		kick.onclick = () => act(kick, e, async () => {
			await del(base);
			await refresh();
		});
		const stats = u.stats || {};
		return h('tr', {}, td(id), td(pill(u.state || 'joined')),
			td(h('div', { class: 'row' }, vol, volOut)), td(mute), td(pan),
			td(h('span', { class: 'mono dim' }, Object.entries(stats).map(([k, v]) => `${k} ${v}`).join(', ') || '–')),
			td([isAdmin() ? kick : null, e]));
	}

	async function roomPanel(r) {
		const room = r.room || r.room_id || r.id || r;
		const e = h('p', { hidden: true });
		const users = h('div');
		try {
			const u = list(await get(`/api/v1/rooms/${encodeURIComponent(room)}/users`), 'users');
			users.replaceChildren(u.length
				? table(['User', 'State', 'Volume', 'Mute', 'Pan', 'Stats', ''], u.map((x) => userRow(room, x)))
				: h('p', { class: 'dim' }, 'Nobody in this room.'));
		} catch (x) {
			showError(e, x);
		}
		const guest = h('input', { required: true, maxlength: '128', pattern: '[A-Za-z0-9_@\\-]+', placeholder: 'guest-1', 'aria-label': `Guest user id for ${room}` });
		const expire = h('input', { type: 'number', min: '60', max: '604800', value: '86400', 'aria-label': 'Token lifetime in seconds' });
		const link = h('output', { class: 'mono' });
		const mkToken = h('button', { type: 'submit', class: 'small' }, 'Create guest token');
		const tokenForm = h('form', { class: 'row' }, guest, h('label', {}, 'valid (s)'), expire, mkToken);
		tokenForm.onsubmit = (ev) => {
			ev.preventDefault();
			act(mkToken, e, async () => {
				const t = await post(`/api/v1/rooms/${encodeURIComponent(room)}/tokens`, { user: guest.value, expire_s: Number(expire.value) });
				link.textContent = t.link || t.url || t.token;
			});
		};
		const dismiss = h('button', { type: 'button', class: 'small danger' }, 'Dismiss room');
		dismiss.onclick = () => {
			if (!confirm(`Dismiss room ${room}? Everyone in it is disconnected.`))
				return;
			act(dismiss, e, async () => {
				await del(`/api/v1/rooms/${encodeURIComponent(room)}`);
				await refresh();
			});
		};
		return h('div', { class: 'panel stack' }, h('div', { class: 'row' }, h('h3', { style: 'flex:1' }, `Room ${room}`), isAdmin() ? dismiss : null),
			users, isAdmin() ? tokenForm : null, link, e);
	}

	async function refresh() {
		try {
			const r = list(await get('/api/v1/rooms'), 'rooms');
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
		if (ev.domain === 'rtc' && !section.hidden)
			refresh();
	});

	return {
		show() {
			refresh();
		},
		hide() {},
	};
}
