// test_page.mjs - the admin page in headless Chromium (Debian's
// /usr/bin/chromium driven by playwright-core) against a running airmixd.
//
// Run by tests/integration/test_browser.py, which starts airmixd and passes:
//   AIRMIX_URL        http://127.0.0.1:PORT
//   AIRMIX_TOKEN      bearer token, for read-backs through the API
//   AIRMIX_PASSWORD   the admin password ("" = no login on this server)
//   AIRMIX_OPERATOR_PASSWORD  the operator's
//   AIRMIX_CONF       the config file the daemon runs on
//   AIRMIX_MEDIA      a WAV file in the media folder (a steady -6 dBFS tone)
//   ARTEFACTS         where screenshots and downloads go
// Prints "ok - ..." / "not ok - ...: detail" per check; the wrapper counts
// them. "## restart" on stdout asks the wrapper to restart airmixd; it answers
// "restarted" on stdin. Every wait is bounded.

import { chromium } from 'playwright-core';
import { createInterface } from 'node:readline';
import { mkdirSync, readFileSync, statSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { api } from './airmix_api.mjs';

const URL = process.env.AIRMIX_URL;
const PASSWORD = process.env.AIRMIX_PASSWORD || '';
const OPERATOR_PASSWORD = process.env.AIRMIX_OPERATOR_PASSWORD || '';
const CONF = process.env.AIRMIX_CONF;
const MEDIA = process.env.AIRMIX_MEDIA || 'tone.wav';
const ART = process.env.ARTEFACTS || '.';
const VIEWS = ['dashboard', 'carts', 'guests', 'recordings', 'streams', 'history', 'settings'];
mkdirSync(ART, { recursive: true });

function check(what, ok, detail) {
	console.log(ok ? `ok - ${what}` : `not ok - ${what}${detail !== undefined ? ': ' + detail : ''}`);
	return ok;
}

// Runs one group of checks; an exception is one failed check, the rest go on.
async function step(what, fn) {
	try {
		await fn();
	} catch (e) {
		const lines = String(e.message || e).split('\n');
		const waiting = lines.find((l) => /waiting for/.test(l));
		check(what, false, lines[0] + (waiting ? ` (${waiting.trim()})` : ''));
	}
}

async function poll(fn, ms = 8000, every = 100) {
	const end = Date.now() + ms;
	let last;
	while (Date.now() < end) {
		last = await fn();
		if (last)
			return last;
		await new Promise((r) => setTimeout(r, every));
	}
	return last;
}

const stdinLines = createInterface({ input: process.stdin });
const waiting = [];
stdinLines.on('line', (l) => {
	const w = waiting.shift();
	if (w)
		w(l);
});
function askWrapper(what, ms) {
	return new Promise((resolve) => {
		const t = setTimeout(() => resolve('timeout'), ms);
		waiting.push((l) => {
			clearTimeout(t);
			resolve(l);
		});
		console.log(`## ${what}`);
	});
}

const pageErrors = [];

async function login(page, password) {
	await page.fill('#login-password', password);
	await page.click('#login-submit');
}

// Every visible button, input and select of the view has a name a screen
// reader can say (label, aria-label or text).
async function unnamedControls(page, view) {
	return page.evaluate((v) => {
		const sec = document.getElementById(`view-${v}`);
		return [...sec.querySelectorAll('button, input, select, textarea')].filter((el) => {
			if (!el.offsetParent)
				return false;
			if (el.getAttribute('aria-label') || el.getAttribute('aria-labelledby'))
				return false;
			if (el.tagName === 'BUTTON')
				return !el.textContent.trim();
			return !(el.labels && el.labels.length);
		}).map((el) => el.id || el.outerHTML.slice(0, 60));
	}, view);
}

async function main() {
	const browser = await chromium.launch({
		executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
		args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
		timeout: 60000,
	});
	const ctx = await browser.newContext({ viewport: { width: 1280, height: 720 }, acceptDownloads: true });
	ctx.setDefaultTimeout(10000);
	const page = await ctx.newPage();
	page.on('pageerror', (e) => pageErrors.push(e.message));
	page.on('console', (m) => {
		if (m.type() === 'error' && /Content Security Policy|Refused to/.test(m.text()))
			pageErrors.push(m.text());
	});

	await step('headers', async () => {
		const r = await fetch(URL + '/');
		const csp = r.headers.get('content-security-policy') || '';
		check('the page is served with a CSP allowing only its own scripts and no framing',
			/script-src 'self'/.test(csp) && /frame-ancestors 'none'/.test(csp) &&
			r.headers.get('x-content-type-options') === 'nosniff', csp);
		const js = await fetch(URL + '/js/app.js');
		check('its modules are served as JavaScript', js.status === 200 && /javascript/.test(js.headers.get('content-type')),
			`${js.status} ${js.headers.get('content-type')}`);
		const bad = await fetch(URL + '/js/%2e%2e/%2e%2e/page.c');
		check('a path out of the page\'s folder is not served', bad.status === 404, bad.status);
	});

	await step('log in', async () => {
		await page.goto(URL + '/');
		if (!PASSWORD) {
			await page.waitForSelector('#app:not([hidden])');
			check('the page opens without a login when no password is set', true);
			return;
		}
		await page.waitForSelector('#login:not([hidden])');
		check('the page asks for a password first', await page.isHidden('#app'));
		await login(page, PASSWORD + 'x');
		const refused = await page.waitForFunction(() => {
			const e = document.getElementById('login-error');
			return !e.hidden && e.dataset.code === '401' && e.textContent;
		}).then((h) => h.jsonValue());
		check('a wrong password is refused with the server\'s code', /Wrong/.test(refused), refused);
		check('nothing of the app shows after a wrong password', await page.isHidden('#app'));
		await login(page, PASSWORD);
		await page.waitForSelector('#app:not([hidden])');
		const who = await page.textContent('#who');
		check('the right password logs in as admin', /admin/.test(who), who);
		const cookie = (await ctx.cookies()).find((c) => c.name === 'airmix_session');
		check('the session cookie is HttpOnly and SameSite=Strict', cookie && cookie.httpOnly && cookie.sameSite === 'Strict',
			JSON.stringify(cookie));
	});

	await step('meters', async () => {
		await page.goto(URL + '/#dashboard');
		await page.waitForSelector('#ws-state[data-state=open]');
		await page.waitForFunction(() => Number(document.getElementById('meter-bridge').dataset.frames || 0) > 0);
		const f0 = await page.$eval('#meter-bridge', (c) => Number(c.dataset.frames));
		const t0 = Date.now();
		await page.waitForTimeout(3000);
		const f1 = await page.$eval('#meter-bridge', (c) => Number(c.dataset.frames));
		const fps = (f1 - f0) / ((Date.now() - t0) / 1000);
		console.log(`# meter frames drawn: ${fps.toFixed(1)} per second`);
		// 25 frames/s are sent; a loaded 2-core box may delay some: at least half must be drawn
		check('the meter bridge draws the meter frames as they come (25/s sent)', fps >= 12.5 || (process.env.AIRMIX_SANITIZER && fps > 5),
			`${fps.toFixed(1)} fps`);
		const rate = await page.textContent('#stat-rate');
		check('the dashboard shows the rate with its unit', /48 kHz/.test(rate), rate);
		const period = await page.textContent('#stat-period');
		check('the dashboard shows the period in frames and ms', /256 frames \(5\.33 ms\)/.test(period), period);
	});

	let cartNode = 0;
	await step('carts', async () => {
		await page.goto(URL + '/#carts');
		const wav = Buffer.alloc(44 + 4800 * 4);
		wav.write('RIFF', 0);
		wav.writeUInt32LE(36 + 4800 * 4, 4);
		wav.write('WAVEfmt ', 8);
		wav.writeUInt32LE(16, 16);
		wav.writeUInt16LE(1, 20);
		wav.writeUInt16LE(2, 22);
		wav.writeUInt32LE(48000, 24);
		wav.writeUInt32LE(48000 * 4, 28);
		wav.writeUInt16LE(4, 32);
		wav.writeUInt16LE(16, 34);
		wav.write('data', 36);
		wav.writeUInt32LE(4800 * 4, 40);
		await page.setInputFiles('#upload-input', { name: 'uploaded.wav', mimeType: 'audio/wav', buffer: wav });
		const listed = await poll(() => page.$$eval('#media-files option', (o) => o.some((x) => x.value === 'uploaded.wav')), 8000);
		const media = (await api('GET', '/api/v1/media')).json;
		check('an uploaded WAV lands in the media folder and in the file list', listed && media && media.files.some((f) => f.name === 'uploaded.wav'),
			JSON.stringify(media));
		await page.setInputFiles('#upload-input', { name: 'notes.txt', mimeType: 'text/plain', buffer: Buffer.from('hello') });
		const refused = await poll(() => page.$eval('#upload-error', (e) => (!e.hidden && e.textContent) || null), 5000);
		check('a file of another type is refused before upload', !!refused && /notes\.txt/.test(refused), refused);
		await page.setInputFiles('#upload-input', { name: 'fake.wav', mimeType: 'audio/wav', buffer: Buffer.from('not really a wav file at all') });
		const bad = await poll(() => page.$eval('#upload-error', (e) => (!e.hidden && /415|not/.test(e.textContent) && /fake|audio/i.test(e.textContent) ? e.textContent : null)), 5000);
		check('a fake WAV is refused by the server with its code', !!bad && /api \d+/.test(bad), bad);
		await page.fill('#cart-1-file', MEDIA);
		await page.click('#cart-1-preload');
		await page.waitForSelector('#cart-1[data-state=PRELOADED]');
		check('a cart preloads a file from the media folder', true);
		await page.fill('#cart-1-loops', '0');
		await page.click('#cart-1-play');
		await page.waitForSelector('#cart-1[data-state=PLAYING]');
		check('the cart plays', true);
		const peak = await poll(() => page.$eval('#cart-1', (c) => (c.dataset.peak ? Number(c.dataset.peak) : null)).then((v) => (v !== null && v > -12 ? v : null)));
		check('the cart\'s meter moves to the tone\'s level (-6 dBFS)', peak !== null && peak > -12 && peak < -3, peak);
		const info = (await api('GET', '/api/v1/mixing/1')).json;
		cartNode = info && info.node_id;
		await page.goto(URL + '/#dashboard');
		const lvl = await poll(() => page.$eval('#meter-bridge', (c, id) => {
			const l = JSON.parse(c.dataset.levels || '{}');
			return l[id] !== undefined && l[id] !== null && l[id] > -12 ? l[id] : null;
		}, cartNode), 5000);
		check('the meter bridge shows the cart\'s node and the publish bus moving', lvl !== null &&
			await page.$eval('#meter-bridge', (c) => JSON.parse(c.dataset.levels)['1'] > -20), lvl);
		await page.goto(URL + '/#carts');
		await page.waitForSelector('#cart-1[data-state=PLAYING]');
		await page.fill('#cart-1-volume', '50');
		const vol = await poll(async () => {
			const r = await api('GET', '/api/v1/mixing/1');
			return r.json && r.json.volume.publish === 50 ? r.json.volume : null;
		}, 5000);
		check('moving the volume slider sets the engine\'s volume (API read-back 50 %)', !!vol, JSON.stringify(vol));
		const out = await page.textContent('output[for=cart-1-volume]');
		check('the volume shows its unit', out.trim() === '50 %', out);
		await page.focus('#cart-1-speed');
		await page.keyboard.press('Digit1');
		await page.waitForSelector('#cart-1[data-state=STOPPED]');
		check('key 1 stops the first cart', true);
		await page.keyboard.press('Digit1');
		await page.waitForSelector('#cart-1[data-state=PLAYING]');
		check('key 1 plays it again', true);
		await api('PUT', '/api/v1/mixing/1', { pitch: 40 });
		const err = await poll(() => page.textContent('#cart-1-error').then((t) => (/INVALID_PITCH/.test(t) ? t : null)), 5000);
		check('an invalid pitch shows in the cart with its code and name', !!err && /audio_mixing 8/.test(err), err);
	});

	await step('recordings', async () => {
		await page.goto(URL + '/#recordings');
		await page.click('#rec-start');
		const id = await poll(() => page.$eval('#rec-list tbody tr', (tr) => (tr.dataset.state === 'recording' ? tr.id.slice(5) : null)).catch(() => null));
		check('a take starts from the page', !!id, id);
		await page.waitForTimeout(1500);
		await page.click(`#take-${id}-stop`);
		await page.waitForSelector(`#take-${id}[data-state=stopped]`);
		check('the take stops', true);
		const [dl] = await Promise.all([page.waitForEvent('download'), page.click(`#take-${id}-file-0`)]);
		const path = join(ART, `take-${id}.wav`);
		await dl.saveAs(path);
		const size = statSync(path).size;
		const take = (await api('GET', `/api/v1/recordings/${id}`)).json;
		const head = readFileSync(path).subarray(0, 4).toString();
		check('the take downloads whole (RIFF/RF64, the size the API says)', (head === 'RIFF' || head === 'RF64') && size === take.files[0].bytes,
			`${head} ${size} vs ${take.files[0].bytes}`);
		const row = await page.textContent(`#take-${id}`);
		check('the take\'s row shows length, size and overruns', /0:0[1-9]/.test(row) && /KiB|MiB/.test(row) && /0 frames/.test(row), row);
	});

	await step('history', async () => {
		await page.goto(URL + '/#history');
		await page.waitForSelector('#hist-rows tr');
		const marker = `nope-${Date.now()}`;
		const r = await api('GET', `/api/v1/${marker}`);
		check('the injected bad call is refused', r.status === 404, r.status);
		const live = await poll(() => page.$$eval('#hist-rows tr', (trs, m) => trs.some((tr) => tr.textContent.includes(m)), marker), 5000);
		check('the injected error appears live in History', live);
		await page.selectOption('#hist-domain', 'api');
		await page.fill('#hist-code', '4006');
		let loaded = null, rows = null;
		for (let i = 0; i < 10 && !rows; i++) {	/* the history writer batches its rows */
			await page.evaluate(() => delete document.getElementById('hist-rows').dataset.query);
			await page.click('#hist-apply');
			loaded = await poll(() => page.evaluate(() => {
				const e = document.getElementById('hist-error');
				return /code=4006/.test(document.getElementById('hist-rows').dataset.query || '') ? 'ok' : (!e.hidden && e.textContent) || null;
			}), 8000);
			rows = await page.$$eval('#hist-rows tr', (trs, m) => (trs.some((tr) => tr.textContent.includes(m)) ? trs.map((tr) => tr.dataset.code) : null), marker);
			if (!rows)
				await page.waitForTimeout(300);
		}
		check('the filtered history loads', loaded === 'ok', loaded);
		check('filtering by domain and code keeps it, and only that code', rows && rows.every((c) => c === '4006'), JSON.stringify(rows));
		await page.fill('#hist-code', '5');
		await page.click('#hist-apply');
		await page.waitForSelector('#hist-rows[data-query*="code=5&"]', { state: 'attached' });
		const gone = await page.$$eval('#hist-rows tr', (trs, m) => !trs.some((tr) => tr.textContent.includes(m)), marker);
		check('another code filters it out', gone);
		await page.click('#hist-reset');
		const [dl] = await Promise.all([page.waitForEvent('download'), page.click('#hist-export')]);
		const path = join(ART, 'history.csv');
		await dl.saveAs(path);
		const csv = readFileSync(path, 'utf8');
		check('CSV export holds the injected error', csv.includes(marker) && /^[a-z_,]+/.test(csv), csv.slice(0, 80));
	});

	await step('settings', async () => {
		const has = await api('GET', '/api/v1/config');
		if (has.status === 404) {
			check('settings: no /api/v1/config on this server # SKIP', true);
			return;
		}
		await page.goto(URL + '/#settings');
		await page.waitForSelector('#set-http-meter_fps');
		await page.fill('#set-http-meter_fps', '999');
		const invalid = await page.getAttribute('#set-http-meter_fps', 'aria-invalid');
		const msg = await page.textContent('#set-http-meter_fps-msg');
		check('an out-of-range value is flagged inline and Save is disabled',
			invalid === 'true' && /at most 60/.test(msg) && await page.isDisabled('#settings-save'), `${invalid} ${msg}`);
		await page.click('#settings-revert');
		await page.selectOption('#set-log-level', 'info');
		await page.click('#settings-save');
		const status = await poll(() => page.textContent('#settings-status').then((t) => (/Saved/.test(t) ? t : null)), 5000);
		check('saving says so', !!status, status);
		const text = readFileSync(CONF, 'utf8');
		check('the saved setting is in the config file', /\[log\][^[]*\blevel\s*=\s*"?info"?/m.test(text), text.slice(-200));
		await page.fill('#set-http-meter_fps', '30');
		await page.click('#settings-save');
		const restart = await poll(() => page.textContent('#settings-status').then((t) => (/restart/.test(t) ? t : null)), 5000);
		check('a key that needs a restart says so after saving', !!restart, restart);
	});

	await step('streams', async () => {
		await page.goto(URL + '/#streams');
		await page.fill('#cdn-id', 'webtest');
		await page.fill('#cdn-url', 'rtmp://127.0.0.1:9/live/none');
		await page.click('#cdn-start');
		await page.waitForSelector('#cdn-webtest');
		check('a CDN task starts from the page and is listed', true);
		await page.click('#cdn-webtest-stop');
		await page.waitForSelector('#cdn-webtest', { state: 'detached' });
		check('and stops', true);
	});

	await step('guests', async () => {
		await page.goto(URL + '/#guests');
		await page.fill('#room-new', 'webtest');
		await page.click('#room-create');
		await page.waitForSelector('#room-webtest');
		check('a room is created from the page', true);
		await page.fill('#room-webtest input[placeholder="guest-1"]', 'guest-1');
		await page.click('#room-webtest button:has-text("Create guest token")');
		const tok = await poll(() => page.$eval('#room-webtest input[readonly]', (i) => i.value || null), 5000);
		check('a guest token is issued and shown (Volcengine "001" + app id)', !!tok && /^001/.test(tok), tok);
		const other = await api('POST', '/api/v1/rooms', { room: 'webtest2' });
		const ftok = await api('POST', '/api/v1/rooms/webtest2/tokens', { user: 'webtest', expire_s: 3600 });
		await page.waitForSelector('#room-webtest2');	/* the view polls the rooms */
		await page.fill('#room-webtest input[placeholder="other-room"]', 'webtest2');
		await page.fill('#room-webtest input[placeholder="001…"]', ftok.json ? ftok.json.token : '');
		await page.click('#room-webtest button:has-text("Start forwarding")');
		const fwd = await poll(() => page.$$eval('#room-webtest tr', (trs) => {
			const tr = trs.find((t) => t.firstChild && t.firstChild.textContent === 'webtest2');
			return tr ? tr.textContent : null;
		}), 8000);
		check('forwarding to another room starts from the page and shows the target\'s state',
			other.status === 201 && !!fwd && /success|failure|idle/.test(fwd), `${other.status} ${fwd || await page.textContent('#room-webtest')}`);
		page.once('dialog', (d) => d.accept());
		await page.click('#room-webtest button:has-text("Dismiss room")');
		await page.waitForSelector('#room-webtest', { state: 'detached' });
		const rooms = (await api('GET', '/api/v1/rooms')).json;
		check('dismissing removes the room', rooms && !rooms.rooms.some((r) => r.room === 'webtest'), JSON.stringify(rooms));
	});

	await step('screenshots', async () => {
		for (const v of VIEWS) {
			await page.goto(`${URL}/#${v}`);
			await page.waitForSelector(`#view-${v}:not([hidden])`);
			await page.waitForTimeout(600);
			const file = join(ART, `view-${v}-1280x720.png`);
			await page.screenshot({ path: file });
			check(`${v}: screenshot at 1280x720`, existsSync(file) && statSync(file).size > 5000);
			const unnamed = await unnamedControls(page, v);
			check(`${v}: every control has a label`, unnamed.length === 0, unnamed.join(', '));
			const wide = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
			check(`${v}: no sideways scrolling at 1280 px`, wide <= 0, `${wide} px too wide`);
		}
		await page.setViewportSize({ width: 820, height: 1180 });
		for (const v of ['dashboard', 'carts', 'recordings']) {
			await page.goto(`${URL}/#${v}`);
			await page.waitForTimeout(400);
			await page.screenshot({ path: join(ART, `view-${v}-tablet.png`) });
			const wide = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
			check(`${v}: fits a tablet (820 px) without sideways scrolling`, wide <= 0, `${wide} px too wide`);
		}
		await page.setViewportSize({ width: 1280, height: 720 });
	});

	await step('keyboard', async () => {
		await page.goto(URL + '/#dashboard');
		await page.keyboard.press('Tab');
		await page.keyboard.press('Tab');
		let reached = false;
		for (let i = 0; i < 12 && !reached; i++) {
			reached = await page.evaluate(() => document.activeElement && document.activeElement.dataset.view === 'carts');
			if (!reached)
				await page.keyboard.press('Tab');
		}
		check('the views are reachable with Tab', reached);
		await page.keyboard.press('Enter');
		await page.waitForSelector('#view-carts:not([hidden])');
		const ring = await page.evaluate(() => getComputedStyle(document.activeElement).outlineStyle);
		check('the focused link shows a focus ring', ring !== 'none', ring);
	});

	if (OPERATOR_PASSWORD) {
		await step('operator', async () => {
			const other = await browser.newContext({ viewport: { width: 1280, height: 720 } });
			const p2 = await other.newPage();
			await p2.goto(URL + '/#settings');
			await p2.selectOption('#login-user', 'operator');
			await login(p2, OPERATOR_PASSWORD);
			await p2.waitForSelector('#app:not([hidden])');
			const who = await p2.textContent('#who');
			check('the operator logs in with the operator role', /operator \(operator\)/.test(who), who);
			check('the operator sees no Settings view', await p2.isHidden('#nav a[data-view=settings]') &&
				await p2.isVisible('#view-dashboard'));
			await p2.goto(URL + '/#streams');
			await p2.fill('#cdn-id', 'op');
			await p2.fill('#cdn-url', 'rtmp://127.0.0.1:9/live/none');
			await p2.click('#cdn-start');
			const err = await poll(() => p2.$eval('#cdn-start-error', (e) => (!e.hidden && e.textContent) || null), 5000);
			check('an admin-only action is refused for the operator where it was made, with its code',
				/api 4013 API_FORBIDDEN/.test(err || ''), err);
			await p2.goto(URL + '/#carts');
			await p2.fill('#cart-2-file', MEDIA);
			await p2.click('#cart-2-preload');
			await p2.waitForSelector('#cart-2[data-state=PRELOADED]');
			check('the operator drives carts', true);
			await p2.click('#cart-2-unload');
			await p2.waitForSelector('#cart-2:is([data-state=EMPTY], [data-state=STOPPED])');
			await other.close();
		});
	}

	if (PASSWORD) {
		await step('rate limit', async () => {
			const other = await browser.newContext({ viewport: { width: 1280, height: 720 } });
			const p2 = await other.newPage();
			await p2.goto(URL + '/');
			await p2.waitForSelector('#login:not([hidden])');
			let code = '';
			for (let i = 0; i < 12 && code !== '429'; i++) {
				await login(p2, `wrong-${i}`);	/* the button stays disabled until the answer */
				await p2.waitForFunction(() => !document.getElementById('login-submit').disabled ||
					document.getElementById('login-error').dataset.code === '429');
				code = await p2.$eval('#login-error', (e) => e.dataset.code);
			}
			const text = await p2.textContent('#login-error');
			check('repeated wrong passwords are rate-limited (429) with the wait shown', code === '429' && /try again in \d+ s/.test(text), `${code} ${text}`);
			check('the login button waits while locked out', await p2.isDisabled('#login-submit'));
			await other.close();
			const status = await page.evaluate(() => fetch('/api/v1/mixing').then((r) => r.status));
			check('the logged-in page is not locked out by another client\'s failures', status === 200, status);
		});
	}

	const meteringAgain = async (what) => {
		const f0 = await page.$eval('#meter-bridge', (c) => Number(c.dataset.frames));
		await page.waitForTimeout(1000);
		const f1 = await page.$eval('#meter-bridge', (c) => Number(c.dataset.frames));
		check(what, f1 > f0 + 5, `${f0} -> ${f1}`);
	};
	const wsConnects = () => page.evaluate(() => Number(document.body.dataset.wsConnects));

	await step('restart', async () => {
		await page.goto(URL + '/#dashboard');
		await page.waitForSelector('#ws-state[data-state=open]');
		const before = await wsConnects();
		const answer = await askWrapper('restart', 30000);
		check('the wrapper restarted airmixd', answer === 'restarted', answer);
		if (PASSWORD) {
			await page.waitForSelector('#login:not([hidden])', { timeout: 20000 });
			check('sessions end with the daemon: the page asks to log in again', true);
			await login(page, PASSWORD);
			await page.waitForSelector('#app:not([hidden])');
		}
		await page.waitForFunction((n) => document.body.dataset.ws === 'open' && Number(document.body.dataset.wsConnects) > n, before, { timeout: 20000 });
		await meteringAgain('after a restart the event stream is back and meters flow');
		const up = await poll(() => page.textContent('#stat-uptime').then((t) => (/^0:[0-5]\d$/.test(t) ? t : null)), 5000);
		check('the dashboard shows the new daemon\'s uptime', !!up, up);
	});

	await step('reconnect', async () => {
		const before = await wsConnects();
		const answer = await askWrapper(PASSWORD ? 'restart open' : 'restart', 30000);
		check('the wrapper restarted airmixd again', answer === 'restarted', answer);
		const back = await poll(() => page.evaluate((n) => document.body.dataset.ws === 'open' && Number(document.body.dataset.wsConnects) > n, before), 20000, 200);
		check('the event stream comes back', back, await page.evaluate(() => JSON.stringify({ ...document.body.dataset, login: !document.getElementById('login').hidden, banner: document.getElementById('banner').textContent })));
		check('the WebSocket reconnects by itself, with no action on the page', await page.isHidden('#login'));
		await meteringAgain('meters flow again after the reconnection');
		const state = await page.textContent('#ws-state');
		check('the connection indicator says live', state === 'live', state);
	});

	check('no script errors or CSP refusals on the page', pageErrors.length === 0, pageErrors.join(' | '));
	await browser.close();
}

main().then(() => process.exit(0), (e) => {
	check('the browser test ran to the end', false, e.stack || e);
	process.exit(1);
});
