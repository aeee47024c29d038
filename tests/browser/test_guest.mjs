// test_guest.mjs - browser guests over WebRTC: the guest page
// (/guest/{room}?token=...) in headless Chromium (Debian's /usr/bin/chromium
// driven by playwright-core) against a running airmixd. Each Chromium gets
// its microphone from a tone file (--use-file-for-fake-audio-capture); ICE
// stays on loopback (the daemon's [webrtc] interfaces = 127.0.0.1, and
// --allow-loopback-in-peer-connection here).
//
// Run by tests/integration/test_guest.py, which starts airmixd, creates the
// rooms "studio" and "lobby" and passes:
//   AIRMIX_URL    http://127.0.0.1:PORT
//   AIRMIX_TOKEN  bearer token, for the API (tokens, takes, carts, read-backs)
//   AIRMIX_DATA   the daemon's data folder (a take's relative paths)
//   TONE_1000, TONE_700  the two guests' microphone tones (-12 dBFS)
//   CART          a 440 Hz file in the media folder
//   ARTEFACTS     where screenshots go
// The checks: a guest reaches "live" and its 1 kHz is in the publish bus
// (a take, 1 % frequency), with track stats in GET /api/v1/rooms/studio; mute
// silences it; the page's received audio is the mix-minus (a cart's 440 Hz,
// not the guest's own 1 kHz; each of two guests hears the other, not
// itself); one of two guests closed abruptly: the other plays on and the
// history names who left and why; expired and forged tokens show
// INVALID_TOKEN and join nothing, as a plain-http link (no microphone
// outside a secure context); a green-room guest is off the bus until it
// goes live, and the other guest's page is not moved by it; a kicked guest's
// page says KICKED_OUT; a Firefox guest (FIREFOX, default
// /usr/bin/firefox-esr, when installed) goes live and is heard.
// GUEST_MODE=tls: a guest over https:// (see tlsMain). Prints "ok - ..." /
// "not ok - ...: detail" per check. Every wait is bounded.

import { chromium, firefox } from 'playwright-core';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join, isAbsolute } from 'node:path';
import { api } from './airmix_api.mjs';

const URL = process.env.AIRMIX_URL;
const DATA = process.env.AIRMIX_DATA || '.';
const CART = process.env.CART || 'cart.wav';
const ART = process.env.ARTEFACTS || '.';
const FIREFOX = process.env.FIREFOX || '/usr/bin/firefox-esr';
const SLOW = process.env.AIRMIX_SANITIZER ? 3 : 1;	// a sanitized daemon answers later
mkdirSync(ART, { recursive: true });

function check(what, ok, detail) {
	console.log(ok ? `ok - ${what}` : `not ok - ${what}${detail !== undefined ? ': ' + JSON.stringify(detail) : ''}`);
	return ok;
}

// One group of checks; an exception is one failed check, the rest go on.
async function step(what, fn) {
	try {
		await fn();
	} catch (e) {
		const lines = String(e.message || e).split('\n');
		check(what, false, lines.slice(0, 3).join(' | '));
	}
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// fn() until truthy, at most ms; the last value
async function poll(fn, ms, every = 200) {
	const end = Date.now() + ms * SLOW;
	let last;
	while (Date.now() < end) {
		last = await fn();
		if (last)
			return last;
		await sleep(every);
	}
	return last;
}

// ---- audio analysis of a take (16-bit PCM WAV), first channel

function readWav(path) {
	const b = readFileSync(isAbsolute(path) ? path : join(DATA, path));
	let off = 12, ch = 0, rate = 0, bits = 0, data = null;
	while (off + 8 <= b.length) {
		const id = b.toString('ascii', off, off + 4), n = b.readUInt32LE(off + 4);
		if (id === 'fmt ') {
			ch = b.readUInt16LE(off + 10);
			rate = b.readUInt32LE(off + 12);
			bits = b.readUInt16LE(off + 22);
		} else if (id === 'data') {
			data = b.subarray(off + 8, Math.min(b.length, off + 8 + n));
		}
		off += 8 + n + (n & 1);
	}
	if (!data || bits !== 16 || !ch)
		throw new Error(`${path}: not a 16-bit PCM WAV (bits ${bits}, channels ${ch})`);
	const frames = Math.floor(data.length / (2 * ch));
	const x = new Float64Array(frames);
	for (let i = 0; i < frames; i++)
		x[i] = data.readInt16LE(2 * ch * i) / 32768;
	return { rate, x };
}

// |DFT| of x at hz (Goertzel)
function goertzel(x, rate, hz) {
	const c = 2 * Math.cos(2 * Math.PI * hz / rate);
	let s1 = 0, s2 = 0;
	for (let i = 0; i < x.length; i++) {
		const s0 = x[i] + c * s1 - s2;
		s2 = s1;
		s1 = s0;
	}
	return Math.sqrt(Math.max(0, s1 * s1 + s2 * s2 - c * s1 * s2));
}

function hann(x) {
	return x.map((v, i) => v * (0.5 - 0.5 * Math.cos(2 * Math.PI * i / (x.length - 1))));
}

// The amplitude of a tone near hz (the strongest within +- 1 %, every
// 0.1 Hz: a track's drift correction moves a tone by up to 0.2 % while it
// works, more than a 2 s bin is wide), Hann-windowed so that another tone
// does not leak into it, in dBFS.
function toneDb(x, rate, hz) {
	const y = hann(x);
	let best = 0;
	for (let f = 0.99 * hz; f <= 1.01 * hz; f += 0.1)
		best = Math.max(best, goertzel(y, rate, f));
	return 20 * Math.log10(Math.max(4 * best / x.length, 1e-12));
}

// The strongest frequency between lo and hi Hz: Hann-windowed DFT every
// 1 Hz, then golden-section search to 0.01 Hz. Unlike counting zero
// crossings it is the pitch alone: a 20-40 ms gap in 2 s (a browser's
// sender can stall at its start on a loaded machine) would move a crossing
// count by 2 %.
function peakHz(x, rate, lo, hi) {
	const y = hann(x);
	const mag = (hz) => goertzel(y, rate, hz);
	let best = lo;
	for (let f = lo, m = -1; f <= hi; f += 1) {
		const v = mag(f);
		if (v > m) {
			m = v;
			best = f;
		}
	}
	let a = best - 1, b = best + 1;
	const r = (Math.sqrt(5) - 1) / 2;
	while (b - a > 0.01) {
		const c = b - r * (b - a), d = a + r * (b - a);
		if (mag(c) > mag(d))
			b = d;
		else
			a = c;
	}
	return (a + b) / 2;
}

// Absence of a tone beside another one is judged at -50 dBFS (ABSENT_DB),
// 30 dB under where a guest's tone sits in the bus (about -20 dBFS): a
// track's underruns splatter clicks across the band, to about -75 dBFS on
// an idle machine and to -59 dBFS measured under ASan on a loaded one. On a
// silent bus (mute) it is -70.
const ABSENT_DB = -50;

// 10 ms windows quieter than a tenth of the median: dropouts
function quietWindows(x, rate) {
	const win = Math.floor(rate / 100), levels = [];
	for (let i = 0; i + win <= x.length; i += win) {
		let sum = 0;
		for (let k = i; k < i + win; k++)
			sum += x[k] * x[k];
		levels.push(Math.sqrt(sum / win));
	}
	const median = [...levels].sort((p, q) => p - q)[levels.length >> 1] || 0;
	return levels.filter((v) => v < 0.1 * median).length;
}

// The bus's pitch near hz (within 10 %) and level there; prints
// the dropouts and the track's stats as a note.
async function busTone(bus, hz, room, user) {
	const f = peakHz(bus.x, bus.rate, 0.9 * hz, 1.1 * hz), db = toneDb(bus.x, bus.rate, hz);
	const u = await userOf(room, user);
	console.log(`# ${user}: ${quietWindows(bus.x, bus.rate)} quiet 10 ms windows in the last 2 s; ` +
		`track stats ${JSON.stringify(u && u.stats)}`);
	return { f, db };
}

// A take of the publish bus for about `seconds`; its last 2 s (or null).
async function takeBus(what, seconds) {
	const t = await api('POST', '/api/v1/recordings', { tracks: ['publish'], format: 'wav', bits: 16 });
	if (!check(`${what}: a take of the publish bus starts`, t.status === 201, [t.status, t.text]))
		return null;
	await sleep(seconds * 1000);
	const done = await api('POST', `/api/v1/recordings/${t.json.id}/stop`, {});
	const file = done.json && done.json.files && done.json.files[0];
	if (!check(`${what}: the take stops with its file`, done.status === 200 && file, [done.status, done.text]))
		return null;
	const { rate, x } = readWav(file.path);
	const tail = x.subarray(Math.max(0, x.length - 2 * rate));
	return { rate, x: tail };
}

// ---- the daemon's side

async function issue(room, user, expire_s = 600) {
	const r = await api('POST', `/api/v1/rooms/${room}/tokens`, { user, expire_s });
	check(`a token for ${user} in ${room}`, r.status === 201 && r.json && r.json.token, [r.status, r.text]);
	return r.json ? r.json.token : '';
}

// the token with one character of its signature changed
function forge(t) {
	const i = t.length - 8;
	return t.slice(0, i) + (t[i] === 'A' ? 'B' : 'A') + t.slice(i + 1);
}

async function roomUsers(room) {
	const r = await api('GET', `/api/v1/rooms/${room}`);
	return r.status === 200 && r.json ? r.json.users || [] : null;
}

async function userOf(room, user) {
	const users = await roomUsers(room);
	return users ? users.find((u) => u.user === user) || null : null;
}

// ---- browsers and pages

const pageErrors = [];

// studio.test: a name for 127.0.0.1 that, unlike it, is no secure context on http://
const NAMED = 'studio.test';
const PORT = new globalThis.URL(URL).port;

async function launch(tone, extra = []) {
	return chromium.launch({
		executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
		args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage',
			'--use-fake-ui-for-media-stream', '--use-fake-device-for-media-stream',
			`--use-file-for-fake-audio-capture=${tone}`, '--allow-loopback-in-peer-connection',
			'--disable-features=WebRtcHideLocalIpsWithMdns', '--autoplay-policy=no-user-gesture-required',
			`--host-resolver-rules=MAP ${NAMED} 127.0.0.1`, ...extra],
		timeout: 60000,
	});
}

// raw: the token as airmixctl token issue --link prints it, not percent-encoded
// (its base64 '+' reads as ' ' in a query: the page must cope)
function link(room, token, extra = '', raw = false) {
	return `${URL}/guest/${encodeURIComponent(room)}?token=${raw ? token : encodeURIComponent(token)}${extra}`;
}

// A new page on the guest link (not joined yet).
async function open(browser, name, url) {
	const ctx = await browser.newContext({ viewport: { width: 800, height: 900 } });
	ctx.setDefaultTimeout(10000 * SLOW);
	const page = await ctx.newPage();
	page.on('pageerror', (e) => pageErrors.push(`${name}: ${e.message}`));
	page.on('console', (m) => {
		if (m.type() === 'error' && /Content Security Policy|Refused to/.test(m.text()))
			pageErrors.push(`${name}: ${m.text()}`);
	});
	await page.goto(url);
	await page.waitForFunction(() => window.airmixGuest !== undefined);
	return page;
}

const stateOf = (page) => page.evaluate(() => window.airmixGuest.state);
const hook = (page, fn, arg) => page.evaluate(([f, a]) => window.airmixGuest[f](a), [fn, arg]);

// the page's state once it is in `want` (or the last one after ms)
async function reach(page, want, ms = 30000) {
	const wants = [].concat(want);
	let st;
	await poll(async () => wants.includes(st = await stateOf(page)), ms);
	return st;
}

async function stateLine(page) {
	return (await page.textContent('#state')).trim();
}

async function errorOf(page) {
	return page.evaluate(() => window.airmixGuest.error);
}

// Polls the received audio until the tone `hz` is dominant and `absent`
// lies `under` dB below it; the last reading.
async function hears(page, hz, absent, under, ms = 15000) {
	let r;
	await poll(async () => {
		r = {
			dominant: await hook(page, 'dominantHz'),
			tone: await hook(page, 'bandDb', hz),
			absent: await hook(page, 'bandDb', absent),
			level: await hook(page, 'levelDb'),
		};
		return Math.abs(r.dominant - hz) <= 0.01 * hz && r.tone - r.absent >= under;
	}, ms, 300);
	return r;
}

const fixed = (v, n = 1) => (typeof v === 'number' ? v.toFixed(n) : String(v));

// ---- the scenario

async function main() {
	await step('the guest link', async () => {
		const r = await fetch(`${URL}/guest/studio?token=x`);
		const body = await r.text();
		const csp = r.headers.get('content-security-policy') || '';
		check('/guest/{room} is the guest page, with the page\'s CSP',
			r.status === 200 && /text\/html/.test(r.headers.get('content-type')) &&
			/js\/guest\.js/.test(body) && /script-src 'self'/.test(csp), [r.status, csp]);
		for (const p of ['/guest/studio/x', '/guest/.hidden', '/guest/', '/guest/%2e%2e']) {
			const bad = await fetch(URL + p);
			const text = await bad.text();
			check(`${p} is not the guest page`, !(bad.status === 200 && /guest\.js/.test(text)), bad.status);
		}
		for (const p of ['/guest.css', '/js/guest.js']) {
			const f = await fetch(URL + p);
			check(`${p} is served`, f.status === 200, f.status);
		}
	});

	const browserA = await launch(process.env.TONE_1000);
	const browserB = await launch(process.env.TONE_700);
	let alice = null, bob = null;

	// -- 1: a guest on air; its tone in the publish bus
	await step('alice goes live', async () => {
		alice = await open(browserA, 'alice', link('studio', await issue('studio', 'alice')));
		check('before joining: ready, the room from the link, Join enabled',
			await stateOf(alice) === 'ready' && (await alice.textContent('#room-name')) === 'studio' &&
			await alice.isEnabled('#join'), await stateLine(alice));
		const unnamed = await alice.evaluate(() => [...document.querySelectorAll('button, input, select')]
			.filter((el) => el.offsetParent && !el.getAttribute('aria-label') &&
				!(el.tagName === 'BUTTON' ? el.textContent.trim() : el.labels && el.labels.length))
			.map((el) => el.id));
		check('every visible control has a name', unnamed.length === 0, unnamed);
		await alice.click('#join');
		const st = await reach(alice, 'live');
		const line = await stateLine(alice);
		check('alice reaches "live" and the state line says so', st === 'live' && /live/i.test(line),
			{ state: st, line, error: await errorOf(alice), conn: await alice.textContent('#conn') });
		await alice.screenshot({ path: join(ART, 'guest-live.png') });
		const mics = await alice.$$eval('#mic option', (o) => o.map((x) => x.textContent));
		check(`the microphone picker lists the browser's microphones (${mics.join(', ')})`,
			mics.length >= 1 && mics.every((m) => m.trim()), mics);
		const meter = await poll(async () => {
			const v = await alice.evaluate(() => document.getElementById('meter').value);
			return v > -24 ? v : 0;
		}, 5000);
		check(`the input meter shows the -12 dBFS tone (${fixed(meter)} dBFS peak)`, meter > -24 && meter <= 0, meter);
	});

	await step('alice in the publish bus', async () => {
		const sent = await poll(async () => {
			const s = await hook(alice, 'stats');
			return s && s.packetsSent > 0 ? s : null;
		}, 10000);
		check('the page sends RTP (getStats outbound-rtp packetsSent > 0)', sent && sent.packetsSent > 0, sent);
		const u = await poll(async () => {
			const x = await userOf('studio', 'alice');
			return x && x.stats && x.stats.packets > 0 ? x : null;
		}, 10000);
		check(`GET /api/v1/rooms/studio shows alice publishing with track stats (${u && u.stats ? u.stats.packets : 0} packets)`,
			u && u.publishing && u.stats.packets > 0, u);
		check(`over WebRTC, the connection handing the track its packets (${u && u.webrtc_packets})`,
			u && u.transport === 'webrtc' && u.webrtc_packets > 0, u);
		const bus = await takeBus('alice live', 4);
		if (bus) {
			const { f, db } = await busTone(bus, 1000, 'studio', 'alice');
			check(`the publish bus holds alice's tone at 1 kHz +- 1 % (${fixed(f, 2)} Hz, ${fixed(db)} dBFS)`,
				Math.abs(f - 1000) <= 10 && db > -40, { f, db });
		}
	});

	await step('mute', async () => {
		await alice.click('#mute');
		check('Mute is pressed and the meter says muted', await alice.getAttribute('#mute', 'aria-pressed') === 'true' &&
			await poll(async () => (await alice.textContent('#meter-text')) === 'muted', 3000), await alice.textContent('#meter-text'));
		await sleep(1000);
		const bus = await takeBus('alice muted', 3);
		if (bus) {
			const db = toneDb(bus.x, bus.rate, 1000);
			check(`muted: alice's tone leaves the bus (${fixed(db)} dBFS at 1 kHz)`, db < -70, db);
		}
		await alice.click('#mute');
		check('unmuted again', await alice.getAttribute('#mute', 'aria-pressed') === 'false');
	});

	// -- 2: the page plays the mix-minus: a cart, not the guest's own voice
	await step('mix-minus', async () => {
		const silent = await poll(async () => ((await hook(alice, 'levelDb')) < -70), 8000);
		check(`with nothing else on air alice hears silence, not herself (${fixed(await hook(alice, 'levelDb'))} dBFS)`,
			silent, await hook(alice, 'levelDb'));
		const cart = await api('POST', '/api/v1/mixing/1/start', { path: CART, type: 2, play_count: 0 });
		check('a 440 Hz cart plays', cart.status === 200, [cart.status, cart.text]);
		const r = await hears(alice, 440, 1000, 40);
		check(`alice's page hears the cart at 440 Hz +- 1 % (${fixed(r.dominant, 2)} Hz, ${fixed(r.level)} dBFS RMS)`,
			Math.abs(r.dominant - 440) <= 4.4 && r.level > -40, r);
		check(`and not her own 1 kHz (${fixed(r.tone - r.absent)} dB under the cart)`, r.tone - r.absent >= 40, r);
		const st = await hook(alice, 'stats');
		check('the page receives RTP (getStats inbound-rtp packetsReceived > 0)', st && st.packetsReceived > 0, st);
		const stop = await api('POST', '/api/v1/mixing/1/stop', {});
		check('the cart stops', stop.status === 200, [stop.status, stop.text]);
	});

	// -- 3: two guests; one closed abruptly
	await step('bob joins beside alice', async () => {
		bob = await open(browserB, 'bob', link('studio', await issue('studio', 'bob'), '', true));
		await bob.click('#join');
		const st = await reach(bob, 'live');
		check('bob reaches "live"', st === 'live', { state: st, line: await stateLine(bob), error: await errorOf(bob) });
		const bus = await takeBus('two guests', 4);
		if (bus) {
			const a = toneDb(bus.x, bus.rate, 1000), b = toneDb(bus.x, bus.rate, 700);
			check(`the bus holds both guests (1 kHz ${fixed(a)} dBFS, 700 Hz ${fixed(b)} dBFS)`, a > -40 && b > -40, { a, b });
		}
		const hb = await hears(bob, 1000, 700, 40);
		check(`bob hears alice, not himself (${fixed(hb.dominant, 2)} Hz, own tone ${fixed(hb.tone - hb.absent)} dB under)`,
			Math.abs(hb.dominant - 1000) <= 10 && hb.tone - hb.absent >= 40, hb);
		const ha = await hears(alice, 700, 1000, 40);
		check(`alice hears bob, not herself (${fixed(ha.dominant, 2)} Hz, own tone ${fixed(ha.tone - ha.absent)} dB under)`,
			Math.abs(ha.dominant - 700) <= 7 && ha.tone - ha.absent >= 40, ha);
	});

	await step('alice closed abruptly', async () => {
		await alice.context().close();	// no Leave: the tab and its connections just go
		alice = null;
		const gone = await poll(async () => {
			const users = await roomUsers('studio');
			return users && !users.some((u) => u.user === 'alice');
		}, 30000);
		check('alice leaves the room', gone, await roomUsers('studio'));
		const h = await poll(async () => {
			const r = await api('GET', '/api/v1/history?domain=rtc&subject=studio/alice&limit=50');
			const rows = r.json ? r.json.rows || [] : [];
			return rows.length ? rows : null;
		}, 10000);
		const rows = h || [];
		for (const x of rows)
			console.log(`# history: ${x.name} ${x.subject}: ${x.message}`);
		const why = rows.find((x) => /quit|clos|lost|left|leav|gone|time|fail|disconnect/i.test(`${x.name} ${x.message}`));
		check('the history names who left (studio/alice) and why', why !== undefined,
			rows.map((x) => `${x.name}: ${x.message}`));
		const s0 = await hook(bob, 'stats');
		await sleep(3000);
		const s1 = await hook(bob, 'stats');
		check(`bob plays on: his page still sends and receives (${s0 && s0.packetsSent}->${s1 && s1.packetsSent} sent, ` +
			`${s0 && s0.packetsReceived}->${s1 && s1.packetsReceived} received)`,
		s0 && s1 && s1.packetsSent > s0.packetsSent && s1.packetsReceived > s0.packetsReceived &&
			await stateOf(bob) === 'live', { s0, s1 });
		const bus = await takeBus('bob alone', 4);
		if (bus) {
			const { f } = await busTone(bus, 700, 'studio', 'bob'), a = toneDb(bus.x, bus.rate, 1000);
			check(`the bus holds bob's 700 Hz +- 1 % (${fixed(f, 2)} Hz) and no more alice (${fixed(a)} dBFS)`,
				Math.abs(f - 700) <= 7 && a < ABSENT_DB, { f, a });
		}
		const u = await userOf('studio', 'bob');
		check('bob\'s track is still in the room with its stats', u && u.publishing && u.stats && u.stats.receiving, u);
	});

	// -- 4: links that must not get in
	const expiring = await issue('lobby', 'carol', 1);
	const bad = [['an expired token', expiring, 2500], ['a forged token (one character changed)', forge(await issue('lobby', 'carol')), 0]];
	for (const [what, token, wait] of bad) {
		await step(what, async () => {
			await sleep(wait);
			const p = await open(browserB, 'carol', link('lobby', token));
			await p.click('#join');
			const st = await reach(p, 'error', 15000);
			const err = await errorOf(p);
			const line = await stateLine(p);
			check(`${what}: the page shows INVALID_TOKEN (${line})`, st === 'error' && err && err.name === 'INVALID_TOKEN' &&
				/INVALID_TOKEN/.test(line), { st, err, line });
			check(`${what}: the microphone was never opened`, await p.isDisabled('#mute') &&
				await p.isHidden('#go-live'), await p.textContent('#mic'));
			const users = await roomUsers('lobby');
			check(`${what}: nobody joined the room`, users !== null && users.length === 0, users);
			await p.screenshot({ path: join(ART, `guest-${wait ? 'expired' : 'forged'}.png`) });
			await p.context().close();
		});
	}

	await step('a link on plain http to a name other than localhost', async () => {
		const p = await open(browserB, 'insecure', `http://${NAMED}:${PORT}/guest/lobby?token=${encodeURIComponent(await issue('lobby', 'frank'))}`);
		const err = await errorOf(p);
		check(`the page says the microphone needs https (${await stateLine(p)})`, await stateOf(p) === 'error' &&
			err && err.name === 'INSECURE_PAGE' && await p.isDisabled('#join'), err);
		const users = await roomUsers('lobby');
		check('and nobody joined', users !== null && users.length === 0, users);
		await p.context().close();
	});

	// -- 5: the green room: dave (1 kHz, browser A) beside bob (700 Hz, live)
	let dave = null;
	await step('green room', async () => {
		dave = await open(browserA, 'dave', link('studio', await issue('studio', 'dave'), '&green_room=1'));
		await dave.click('#join');
		const st = await reach(dave, 'green');
		const line = await stateLine(dave);
		check(`a green-room guest shows "in the green room" (${line})`, st === 'green' && /green room/i.test(line),
			{ st, line, error: await errorOf(dave) });
		check('Go live is offered', await dave.isVisible('#go-live'));
		await dave.screenshot({ path: join(ART, 'guest-green.png') });
		await sleep(1000);
		let bus = await takeBus('dave in the green room', 3);
		if (bus) {
			const db = toneDb(bus.x, bus.rate, 1000), other = toneDb(bus.x, bus.rate, 700);
			check(`in the green room dave is not in the publish bus (${fixed(db)} dBFS at 1 kHz; bob ${fixed(other)} dBFS)`,
				db < ABSENT_DB && other > -40, { db, other });
		}
		// the engineer's talkback: a 1.5 kHz tone on the playout bus only
		const tb = await api('POST', '/api/v1/graph/nodes', { kind: 'tone', name: 'talkback',
			frequency_hz: 1500, level_dbfs: -6, buses: ['playout'] });
		const heard = await hears(dave, 1500, 1000, 30);
		check(`in the green room dave hears the talkback (${fixed(heard.dominant, 2)} Hz), not himself ` +
			`(${fixed(heard.tone - heard.absent)} dB under)`, tb.status === 201 &&
			Math.abs(heard.dominant - 1500) <= 15 && heard.tone - heard.absent >= 30, { status: tb.status, heard });
		await dave.click('#go-live');
		const live = await reach(dave, 'live', 10000);
		check('Go live: the page says "live"', live === 'live' && /live/i.test(await stateLine(dave)),
			{ live, line: await stateLine(dave) });
		await sleep(500);
		bus = await takeBus('dave live', 4);
		if (bus) {
			const { f, db } = await busTone(bus, 1000, 'studio', 'dave');
			check(`live, dave is in the publish bus at 1 kHz +- 1 % (${fixed(f, 2)} Hz, ${fixed(db)} dBFS)`,
				Math.abs(f - 1000) <= 10 && db > -40, { f, db });
		}
		const onAir = await hears(dave, 700, 1500, 30);
		check(`live, dave hears the programme (bob, ${fixed(onAir.dominant, 2)} Hz), the talkback ` +
			`${fixed(onAir.tone - onAir.absent)} dB under it`, Math.abs(onAir.dominant - 700) <= 7 &&
			onAir.tone - onAir.absent >= 30, onAir);
		if (tb.json && tb.json.id)
			await api('DELETE', `/api/v1/graph/nodes/${tb.json.id}`);
		await dave.click('#go-green');
		const back = await reach(dave, 'green', 10000);
		check('Back to the green room: the page says so', back === 'green', { back, line: await stateLine(dave) });
		check('bob\'s page stays live through dave\'s on_air changes (the room hears of them all)',
			await stateOf(bob) === 'live', await stateLine(bob));
	});

	await step('bob leaves with the button', async () => {
		await bob.click('#leave');
		const st = await reach(bob, 'left', 10000);
		const gone = await poll(async () => !(await userOf('studio', 'bob')), 10000);
		check('Leave: the page says so and bob is out of the room', st === 'left' && gone && /left/i.test(await stateLine(bob)),
			{ st, line: await stateLine(bob), gone });
		await bob.context().close();
		bob = null;
	});

	await step('kicked out', async () => {
		const r = await api('DELETE', '/api/v1/rooms/studio/users/dave');
		const st = await reach(dave, 'error', 10000);
		const err = await errorOf(dave);
		check(`the engineer kicks dave: his page shows KICKED_OUT (${await stateLine(dave)})`,
			r.status === 200 && st === 'error' && err && err.name === 'KICKED_OUT', { status: r.status, st, err });
		check('and he is out of the room', await poll(async () => !(await userOf('studio', 'dave')), 10000));
		await dave.context().close();
	});

	await browserA.close();
	await browserB.close();
	await firefoxGuest();
	check('no page errors and no CSP refusals', pageErrors.length === 0, pageErrors);
}

// -- 6: the same page in Firefox (Debian's firefox-esr over WebDriver BiDi).
// Its fake microphone is a 1 kHz tone. Headless Firefox without a sound
// device never starts an AudioContext, so the received audio is judged by
// getStats here, not by the page's analyser.
async function firefoxGuest() {
	if (!existsSync(FIREFOX)) {
		console.log(`# note: ${FIREFOX} is not installed: the Firefox guest is not tried`);
		return;
	}
	let browser = null;
	await step('a Firefox guest', async () => {
		browser = await firefox.launch({
			channel: 'moz-firefox', executablePath: FIREFOX, timeout: 60000,
			firefoxUserPrefs: {
				'media.navigator.streams.fake': true, 'media.navigator.permission.disabled': true,
				'media.autoplay.default': 0, 'media.peerconnection.ice.loopback': true,
				'media.peerconnection.ice.obfuscate_host_addresses': false,
			},
		});
		const forged = await open(browser, 'firefox', link('lobby', forge(await issue('lobby', 'erin'))));
		await forged.click('#join');
		check('Firefox: a forged token shows INVALID_TOKEN', await reach(forged, 'error', 15000) === 'error' &&
			(await errorOf(forged)).name === 'INVALID_TOKEN', await stateLine(forged));
		await forged.context().close();
		const erin = await open(browser, 'firefox', link('studio', await issue('studio', 'erin')));
		await erin.click('#join');
		const st = await reach(erin, 'live');
		check('Firefox: the guest reaches "live"', st === 'live', { st, line: await stateLine(erin), error: await errorOf(erin) });
		const bus = await takeBus('Firefox live', 4);
		if (bus) {
			const { f, db } = await busTone(bus, 1000, 'studio', 'erin');
			check(`Firefox: its 1 kHz fake microphone is in the publish bus +- 1 % (${fixed(f, 2)} Hz, ${fixed(db)} dBFS)`,
				Math.abs(f - 1000) <= 10 && db > -40, { f, db });
		}
		const s0 = await hook(erin, 'stats');
		await sleep(2000);
		const s1 = await hook(erin, 'stats');
		check(`Firefox: the page receives its return (${s0 && s0.packetsReceived}->${s1 && s1.packetsReceived} packets)`,
			s0 && s1 && s1.packetsReceived > s0.packetsReceived && s1.packetsSent > s0.packetsSent, { s0, s1 });
		await erin.click('#leave');
		check('Firefox: Leave', await reach(erin, 'left', 10000) === 'left' &&
			await poll(async () => !(await userOf('studio', 'erin')), 10000));
	});
	if (browser)
		await browser.close();
}

// -- GUEST_MODE=tls: airmixd with tls_cert/tls_key, the page on
// https://studio.test:PORT (Chromium ignores the self-signed certificate):
// its signalling is then wss:// and the guest goes live.
async function tlsMain() {
	const room = await api('POST', '/api/v1/rooms', { room: 'studio' });
	check('HTTPS: room studio created', room.status === 201, [room.status, room.text]);
	const browser = await launch(process.env.TONE_1000, ['--ignore-certificate-errors']);
	await step('a guest over HTTPS', async () => {
		const p = await open(browser, 'tls', `https://${NAMED}:${PORT}/guest/studio?token=${encodeURIComponent(await issue('studio', 'gina'))}`);
		check('HTTPS: the page is a secure context', await p.evaluate(() => window.isSecureContext && location.protocol === 'https:'));
		await p.click('#join');
		const st = await reach(p, 'live');
		check('HTTPS: the guest reaches "live" (signalling over wss://)', st === 'live',
			{ st, line: await stateLine(p), error: await errorOf(p) });
		const u = await poll(async () => {
			const x = await userOf('studio', 'gina');
			return x && x.stats && x.stats.packets > 0 ? x : null;
		}, 10000);
		check('HTTPS: the guest\'s track is in the room with packets', u && u.stats.packets > 0, u);
		await p.click('#leave');
		check('HTTPS: Leave', await reach(p, 'left', 10000) === 'left');
	});
	check('HTTPS: no page errors', pageErrors.length === 0, pageErrors);
	await browser.close();
}

(process.env.GUEST_MODE === 'tls' ? tlsMain() : main()).then(() => process.exit(0), (e) => {
	console.log(`not ok - the browser script: ${String(e && e.stack || e).split('\n').slice(0, 4).join(' | ')}`);
	process.exit(1);
});
