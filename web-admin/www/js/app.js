// app.js - boots the admin page: the session (login, logout, expiry), the
// event stream, the graph's node names, and the views switched by the URL
// fragment. Each view module exports create(section, ctx) -> {show, hide}.

import { get, post, del, setSession, getSession, onUnauthorized, ApiError, missing } from './api.js';
import { EventStream } from './events.js';
import { h } from './ui.js';
import * as dashboard from './views/dashboard.js';
import * as carts from './views/carts.js';
import * as guests from './views/guests.js';
import * as recordings from './views/recordings.js';
import * as streams from './views/streams.js';
import * as history from './views/history.js';
import * as settings from './views/settings.js';

const modules = { dashboard, carts, guests, recordings, streams, history, settings };
const views = {};
let current = null;
let stream = null;

const $ = (id) => document.getElementById(id);

// Node names for meters and track pickers, refreshed when a meter frame
// names a node the page does not know (at most once a second).
const graph = {
	nodes: [],
	byId: new Map(),
	listeners: [],
	fetchedAt: 0,
	async refresh() {
		this.fetchedAt = performance.now();
		try {
			const g = await get('/api/v1/graph');
			this.nodes = g.nodes;
			this.byId = new Map(g.nodes.map((n) => [n.id, n]));
			this.listeners.forEach((fn) => fn(this.nodes));
		} catch (e) {
			console.warn('graph', e);
		}
	},
	check(frame) {
		if (performance.now() - this.fetchedAt < 1000)
			return;
		if (frame.nodes.length !== this.nodes.length || frame.nodes.some((n) => !this.byId.has(n.id)))
			this.refresh();
	},
	onChange(fn) {
		this.listeners.push(fn);
	},
};

function showLogin(message) {
	if (stream)
		stream.stop();
	$('app').hidden = true;
	$('login').hidden = false;
	const err = $('login-error');
	err.hidden = !message;
	err.textContent = message || '';
	$('login-password').value = '';
	$('login-password').focus();
}

let retryTimer = null;

async function login(ev) {
	ev.preventDefault();
	const err = $('login-error'), button = $('login-submit');
	const body = { user: $('login-user').value, password: $('login-password').value };
	button.disabled = true;
	try {
		const s = await post('/api/v1/session', body, { noAuthHook: true });
		setSession(s);
		err.hidden = true;
		startApp();
	} catch (e) {
		err.hidden = false;
		err.replaceChildren();
		if (e instanceof ApiError && e.status === 429) {
			let left = parseInt(e.retryAfter || '30', 10);
			err.dataset.code = '429';
			const tick = () => {
				err.textContent = `Too many attempts: try again in ${left} s (${e.name})`;
				if (left-- <= 0) {
					clearInterval(retryTimer);
					button.disabled = false;
					err.textContent = 'You can try again now.';
				}
			};
			clearInterval(retryTimer);
			retryTimer = setInterval(tick, 1000);
			tick();
			return;
		}
		err.dataset.code = String(e.status || '');
		err.textContent = e.status === 401 ? `Wrong user or password (${e.name})` : `Log-in failed: ${e.message}`;
		$('login-password').select();
	}
	button.disabled = false;
}

async function logout() {
	try {
		await del('/api/v1/session');
	} catch (e) {
		console.warn('logout', e);
	}
	setSession({});
	showLogin('Logged out.');
}

function route() {
	const name = (location.hash || '#dashboard').slice(1);
	const s = getSession();
	const link = document.querySelector(`#nav a[data-view="${name}"]`);
	const allowed = link && !(link.dataset.role === 'admin' && s.role !== 'admin');
	const target = allowed ? name : 'dashboard';
	if (current === target)
		return;
	if (current)
		views[current].hide();
	for (const a of document.querySelectorAll('#nav a')) {
		if (a.dataset.view === target)
			a.setAttribute('aria-current', 'page');
		else
			a.removeAttribute('aria-current');
	}
	for (const sec of document.querySelectorAll('main .view'))
		sec.hidden = sec.id !== `view-${target}`;
	current = target;
	document.title = `airmix – ${link ? link.textContent : target}`;
	views[target].show();
}

function startApp() {
	const s = getSession();
	$('login').hidden = true;
	$('app').hidden = false;
	$('who').textContent = s.auth ? `${s.user} (${s.role})` : 'no password set';
	$('logout').hidden = !s.auth;
	for (const a of document.querySelectorAll('#nav a[data-role=admin]'))
		a.parentElement.hidden = s.role !== 'admin';
	if (!stream) {
		const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
		stream = new EventStream(`${proto}//${location.host}/api/v1/events`);
		stream.on('state', (st) => {
			const el = $('ws-state');
			el.dataset.state = st;
			el.textContent = st === 'open' ? 'live' : st;
			el.title = `event stream ${st}, ${stream.connects} connection(s)`;
			document.body.dataset.ws = st;
			document.body.dataset.wsConnects = String(stream.connects);
		});
		stream.on('meters', (f) => graph.check(f));
		stream.on('hello', () => graph.refresh());
		const ctx = { stream, graph, session: getSession };
		for (const [name, mod] of Object.entries(modules))
			views[name] = mod.create($(`view-${name}`), ctx);
		window.addEventListener('hashchange', route);
	}
	stream.start();
	graph.refresh();
	current = null;
	route();
}

async function boot() {
	setInterval(() => {
		$('clock').textContent = new Date().toLocaleTimeString(undefined, { hour12: false });
	}, 250);
	$('login-form').addEventListener('submit', login);
	$('logout').addEventListener('click', logout);
	onUnauthorized(() => showLogin('Your session has ended: log in again.'));
	try {
		setSession(await get('/api/v1/session', { noAuthHook: true }));
	} catch (e) {
		if (e instanceof ApiError && e.status === 401) {
			showLogin('');
			return;
		}
		if (!missing(e)) {
			$('banner').hidden = false;
			$('banner').replaceChildren(h('span', {}, `Cannot reach airmixd: ${e.message}`));
		}
		setSession({ role: 'admin', auth: false });	/* no login on this server */
	}
	startApp();
}

boot();
