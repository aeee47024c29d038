// guest.js - the guest page (guest.html): a guest opens the engineer's link
// /guest/{room}?token=...[&green_room=1], presses Join, and is in the room:
// the microphone goes to airmixd over WebRTC, the mix-minus comes back and
// plays in an <audio> element.
//
// Signalling is the /rtc WebSocket (web-admin/rtc_ws.c): requests
// {"id", "op", ...} answered {"id", "ok", "data"|"error"}, events
// {"event", "data"}. The order: join (the token is checked before anything
// else: a bad link never opens the microphone), then the microphone, then
// webrtc_offer (one sendrecv audio transceiver) whose answer comes as the
// webrtc_answer event; ICE candidates trickle both ways (local ones once
// the offer is accepted, remote ones once the answer is set). A ping every
// 20 s keeps the session (the server times out a silent one after 60 s).
//
// The page states (window.airmixGuest.state): ready, connecting, green (in
// the green room), live, left, error. The hook is read-only and is what the
// browser tests measure the received audio with.

const PING_MS = 20000;
const REQUEST_MS = 15000;
const ERROR_GRACE_MS = 3000;	// an error event this close before a close explains it
const METER_FLOOR_DB = -60;
const RX_FFT = 16384;

const $ = (id) => document.getElementById(id);

class GuestError extends Error {
	constructor(info) {
		super(info.message || info.name);
		this.info = info;
	}
}

function pageError(name, message) {
	return new GuestError({ domain: 'page', name, message });
}

function infoOf(e) {
	if (e instanceof GuestError)
		return e.info;
	return { domain: 'page', name: e && e.name ? e.name : 'ERROR', message: String(e && e.message ? e.message : e) };
}

// The room from the path, the token and the green-room wish from the query.
function readLink() {
	const seg = location.pathname.split('/');
	let room = '';
	try {
		room = seg.length === 3 && seg[1] === 'guest' ? decodeURIComponent(seg[2]) : '';
	} catch {
		room = '';
	}
	const q = new URLSearchParams(location.search);
	// a token's base64 '+' arrives as ' ' when the link was not percent-encoded
	const token = (q.get('token') || '').replace(/ /g, '+');
	const green = ['1', 'true', 'yes'].includes((q.get('green_room') || '').toLowerCase());
	return { room, token, green };
}

const link = readLink();

const g = {
	state: 'ready',
	run: 0,			// one per join; teardown ends it, a stale await sees it
	error: null,
	errorAt: 0,
	ws: null,
	nextId: 1,
	pending: new Map(),
	pingTimer: 0,
	joined: false,
	self: '',		// our user id, from the join reply
	pc: null,
	sender: null,
	mic: null,
	muted: false,
	onAir: false,
	busy: false,
	offerAccepted: false,
	answerSet: false,
	localCandidates: [],
	remoteCandidates: [],
	serverIce: 'new',
	audio: null,
	micSource: null,
	micAnalyser: null,
	micBuf: null,
	meterOn: false,
	rxSource: null,
	rxAnalyser: null,
	people: new Set(),
};

// ---- the view

const TEXT = {
	ready: 'Ready: put your headphones on, then join',
	connecting: 'Connecting…',
	green: 'In the green room: the engineer hears you, the programme does not',
	live: 'You are live',
	left: 'You left the studio',
};

function errorText(info) {
	return `${info.name}: ${info.message || ''}`.replace(/: $/, '');
}

// connecting until the audio path is up, then green or live by on_air
function settle() {
	if (g.state === 'left' || g.state === 'error' || g.state === 'ready')
		return;
	const up = g.pc && g.pc.connectionState === 'connected' && g.answerSet;
	g.state = up ? (g.onAir ? 'live' : 'green') : 'connecting';
}

function render() {
	settle();
	const st = $('state');
	st.dataset.state = g.state;
	st.textContent = g.state === 'error' && g.error ? errorText(g.error) : TEXT[g.state];
	const active = g.state !== 'ready' && g.state !== 'left' && g.state !== 'error';
	const join = $('join');
	join.hidden = active;
	join.disabled = !link.room || !link.token || !window.isSecureContext;
	join.textContent = g.state === 'ready' ? 'Join the studio' : 'Join again';
	$('mute').disabled = !g.mic;
	$('mute').setAttribute('aria-pressed', String(g.muted));
	$('mute').textContent = g.muted ? 'Unmute' : 'Mute';
	$('go-live').hidden = !g.offerAccepted || g.onAir || !active;
	$('go-green').hidden = !g.offerAccepted || !g.onAir || !active;
	$('go-live').disabled = $('go-green').disabled = g.busy;
	$('leave').disabled = !active;
	$('conn').textContent = g.pc ? `${g.pc.connectionState} (studio: ${g.serverIce})` : 'not connected';
	$('people').textContent = g.people.size ? [...g.people].sort().join(', ') : 'nobody yet';
	document.title = g.state === 'live' ? `● live - ${link.room}` : `airmix guest - ${link.room}`;
}

function warn(text) {
	const w = $('warning');
	w.textContent = text;
	w.hidden = !text;
}

function setState(s) {
	g.state = s;
	render();
}

// ---- signalling

function connect() {
	return new Promise((resolve, reject) => {
		const ws = new WebSocket(`${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/rtc`);
		let open = false;
		const timer = setTimeout(() => {
			ws.close();
			reject(pageError('CONNECTION_FAILED', 'the studio did not answer'));
		}, REQUEST_MS);
		ws.onopen = () => {
			open = true;
			clearTimeout(timer);
			resolve(ws);
		};
		ws.onmessage = (e) => onMessage(e.data);
		ws.onclose = (e) => {
			clearTimeout(timer);
			if (!open)
				reject(pageError('CONNECTION_FAILED', 'cannot reach the studio'));
			else if (g.ws === ws)
				onClosed(e);
		};
	});
}

function request(op, fields = {}) {
	return new Promise((resolve, reject) => {
		if (!g.ws || g.ws.readyState !== WebSocket.OPEN) {
			reject(pageError('CONNECTION_LOST', 'not connected to the studio'));
			return;
		}
		const id = g.nextId++;
		const timer = setTimeout(() => {
			g.pending.delete(id);
			reject(pageError('NO_REPLY', `the studio did not answer ${op}`));
		}, REQUEST_MS);
		g.pending.set(id, { resolve, reject, timer });
		g.ws.send(JSON.stringify({ id, op, ...fields }));
	});
}

function onMessage(text) {
	let m;
	try {
		m = JSON.parse(text);
	} catch {
		return;
	}
	if (typeof m.id === 'number' && g.pending.has(m.id)) {
		const p = g.pending.get(m.id);
		g.pending.delete(m.id);
		clearTimeout(p.timer);
		if (m.ok)
			p.resolve(m.data || {});
		else
			p.reject(new GuestError(m.error || { name: 'ERROR', message: 'refused' }));
		return;
	}
	if (m.ok === false) {	// a refusal without an id: nothing of ours waits for it
		console.warn('airmix guest: refused', m.error);
		return;
	}
	if (typeof m.event === 'string')
		onEvent(m.event, m.data || {}).catch((e) => fail(infoOf(e)));
}

// the events that put the guest out of the room (rooms.c)
const FATAL_EVENTS = ['token_expired', 'kicked', 'room_dismissed', 'duplicate_login'];

async function onEvent(name, data) {
	if (!g.pc && name.startsWith('webrtc_'))
		return;		// from before a teardown
	if (name === 'webrtc_answer') {
		await g.pc.setRemoteDescription({ type: 'answer', sdp: data.sdp });
		g.answerSet = true;
		for (const c of g.remoteCandidates.splice(0))
			addRemoteCandidate(c);
	} else if (name === 'webrtc_ice') {
		if (g.answerSet)
			addRemoteCandidate(data);
		else
			g.remoteCandidates.push(data);
	} else if (name === 'webrtc_state') {
		g.serverIce = String(data.state);
		if (data.state === 'failed' || data.state === 'closed')
			throw pageError('WEBRTC_FAILED', `the studio's side of the audio connection is ${data.state}`);
	} else if (name === 'on_air') {	// the room hears of everyone's
		if (data.user === undefined || data.user === g.self)
			g.onAir = data.on_air === true;
	} else if (FATAL_EVENTS.includes(name)) {
		fail(data.error || { name: name.toUpperCase(), message: '' });
		return;
	} else if (name === 'error') {
		g.error = data.error || { name: 'ERROR', message: '' };
		g.errorAt = Date.now();
		warn(errorText(g.error));
	} else if (name === 'token_will_expire') {
		warn(`${data.error ? data.error.message : 'your link expires soon'}: ` +
			'ask the engineer for a new link to stay on');
	} else if (name === 'user_joined') {
		g.people.add(data.user);
	} else if (name === 'user_left') {
		g.people.delete(data.user);
	}
	render();
}

function addRemoteCandidate(c) {
	if (!g.pc)
		return;
	g.pc.addIceCandidate({ candidate: c.candidate, sdpMLineIndex: c.mline })
		.catch((e) => console.warn('airmix guest: remote candidate refused', c.candidate, e));
}

function sendCandidate(c) {
	request('webrtc_ice', { candidate: c.candidate, mline: c.sdpMLineIndex ?? 0 })
		.catch((e) => console.warn('airmix guest: candidate refused', c.candidate, infoOf(e)));
}

function onClosed(e) {
	const recent = g.error && Date.now() - g.errorAt < ERROR_GRACE_MS;
	fail(recent ? g.error : { domain: 'page', name: 'CONNECTION_LOST',
		message: `the connection to the studio closed (${e.code})` });
}

// ---- the microphone

async function openMic(deviceId) {
	// broadcast sound: no processing, the guest wears headphones
	const audio = { echoCancellation: false, noiseSuppression: false, autoGainControl: false };
	if (deviceId)
		audio.deviceId = { exact: deviceId };
	try {
		return await navigator.mediaDevices.getUserMedia({ audio, video: false });
	} catch (e) {
		throw pageError('MICROPHONE', `the microphone could not be opened (${e.name}${e.message ? ': ' + e.message : ''})`);
	}
}

function micTrack() {
	return g.mic ? g.mic.getAudioTracks()[0] : null;
}

async function fillMics() {
	const sel = $('mic');
	const devs = (await navigator.mediaDevices.enumerateDevices()).filter((d) => d.kind === 'audioinput');
	const track = micTrack();
	const current = track ? track.getSettings().deviceId : '';
	sel.replaceChildren(...devs.map((d, i) => {
		const o = new Option(d.label || `Microphone ${i + 1}`, d.deviceId);
		o.selected = d.deviceId === current;
		return o;
	}));
	sel.disabled = !g.mic || devs.length < 2;
}

async function switchMic(deviceId) {
	const old = g.mic;
	const stream = await openMic(deviceId);
	const track = stream.getAudioTracks()[0];
	track.enabled = !g.muted;
	if (g.sender)
		await g.sender.replaceTrack(track);
	g.mic = stream;
	if (old)
		old.getTracks().forEach((t) => t.stop());
	meterOn(stream);
	await fillMics();
}

function meterOn(stream) {
	if (g.micSource)
		g.micSource.disconnect();
	if (!g.micAnalyser) {
		g.micAnalyser = g.audio.createAnalyser();
		g.micAnalyser.fftSize = 2048;
		g.micBuf = new Float32Array(g.micAnalyser.fftSize);
	}
	g.micSource = g.audio.createMediaStreamSource(stream);
	g.micSource.connect(g.micAnalyser);
	if (!g.meterOn) {
		g.meterOn = true;
		requestAnimationFrame(drawMeter);
	}
}

function drawMeter() {
	if (!g.meterOn || !g.micAnalyser)
		return;
	g.micAnalyser.getFloatTimeDomainData(g.micBuf);
	let peak = 0;
	for (const v of g.micBuf)
		peak = Math.max(peak, Math.abs(v));
	const db = peak > 0 ? 20 * Math.log10(peak) : -Infinity;
	$('meter').value = Math.max(METER_FLOOR_DB, Math.min(0, db));
	$('meter-text').textContent = g.muted ? 'muted' : db > METER_FLOOR_DB ? `${db.toFixed(0)} dBFS peak` : 'silence';
	requestAnimationFrame(drawMeter);
}

// ---- the audio connection

function playRemote(stream) {
	const el = $('remote');
	if (el.srcObject !== stream)
		el.srcObject = stream;
	el.play().then(() => warn(''), () => {
		warn('Your browser holds the studio\'s sound back: click anywhere on the page to hear it');
		document.addEventListener('click', () => el.play().then(() => warn(''), () => {}), { once: true });
	});
	if (g.rxSource)
		g.rxSource.disconnect();
	if (!g.rxAnalyser) {
		g.rxAnalyser = g.audio.createAnalyser();
		g.rxAnalyser.fftSize = RX_FFT;
		g.rxAnalyser.smoothingTimeConstant = 0;
	}
	// measured only: the <audio> element is what plays it
	g.rxSource = g.audio.createMediaStreamSource(stream);
	g.rxSource.connect(g.rxAnalyser);
}

async function startPeer(webrtc, run) {
	const iceServers = webrtc && Array.isArray(webrtc.ice_servers) ? webrtc.ice_servers : [];
	const pc = new RTCPeerConnection({ iceServers });
	g.pc = pc;
	g.sender = pc.addTransceiver(micTrack(), { direction: 'sendrecv', streams: [g.mic] }).sender;
	pc.ontrack = (e) => playRemote(e.streams[0] || new MediaStream([e.track]));
	pc.onicecandidate = (e) => {
		const c = e.candidate;
		if (!c || !c.candidate)
			return;		// end of candidates: the server needs no word of it
		if (g.offerAccepted)
			sendCandidate(c);
		else
			g.localCandidates.push(c);
	};
	pc.onconnectionstatechange = () => {
		if (g.pc !== pc)
			return;
		if (pc.connectionState === 'failed')
			fail({ domain: 'page', name: 'WEBRTC_FAILED', message: 'the audio connection to the studio failed' });
		else
			render();
	};
	await pc.setLocalDescription(await pc.createOffer());
	if (run !== g.run)
		return;
	const data = await request('webrtc_offer', { sdp: pc.localDescription.sdp });
	g.onAir = data.on_air === true;
	g.offerAccepted = true;
	for (const c of g.localCandidates.splice(0))
		sendCandidate(c);
	render();
}

// ---- joining and leaving

async function join() {
	g.error = null;
	g.muted = false;
	g.people.clear();
	warn('');
	setState('connecting');
	const run = ++g.run;
	try {
		g.audio = new AudioContext();	// in the click: allowed to start
		g.audio.resume().catch(() => {});	// some browsers still start it suspended
		const ws = await connect();
		if (run !== g.run) {
			ws.close();
			return;
		}
		g.ws = ws;
		const data = await request('join', { token: link.token, room: link.room, green_room: link.green });
		g.joined = true;
		g.self = data.user;
		for (const u of data.users || [])
			g.people.add(u.user);
		g.pingTimer = setInterval(() => request('ping').catch(() => {}), PING_MS);
		render();
		const mic = await openMic('');
		if (run !== g.run) {
			mic.getTracks().forEach((t) => t.stop());
			return;
		}
		g.mic = mic;
		meterOn(mic);
		await fillMics();
		await startPeer(data.webrtc, run);
	} catch (e) {
		if (run === g.run)
			fail(infoOf(e));
	}
}

// Everything stops; the session ends with a leave when it still can.
function teardown() {
	const ws = g.ws;
	g.run++;
	g.ws = null;
	clearInterval(g.pingTimer);
	for (const p of g.pending.values()) {
		clearTimeout(p.timer);
		p.reject(pageError('LEFT', 'left'));
	}
	g.pending.clear();
	if (ws && ws.readyState === WebSocket.OPEN && g.joined)
		ws.send(JSON.stringify({ id: g.nextId++, op: 'leave' }));
	if (ws)
		ws.close();
	g.joined = false;
	if (g.pc)
		g.pc.close();
	g.pc = g.sender = null;
	if (g.mic)
		g.mic.getTracks().forEach((t) => t.stop());
	g.mic = null;
	g.meterOn = false;
	g.micSource = g.micAnalyser = g.rxSource = g.rxAnalyser = null;
	if (g.audio)
		g.audio.close().catch(() => {});
	g.audio = null;
	$('remote').srcObject = null;
	$('meter').value = METER_FLOOR_DB;
	$('meter-text').textContent = '–';
	g.offerAccepted = g.answerSet = g.onAir = g.busy = false;
	g.localCandidates = [];
	g.remoteCandidates = [];
	g.serverIce = 'new';
	fillMics().catch(() => {});
}

function fail(info) {
	if (g.state === 'left' || (g.state === 'error' && !g.ws))
		return;		// already stopped: the first reason stays
	g.error = info;
	teardown();
	setState('error');
}

async function leave() {
	if (g.ws && g.joined) {
		try {
			await request('leave');
			g.joined = false;	// said: teardown need not say it again
		} catch {
			/* closing anyway */
		}
	}
	teardown();
	setState('left');
}

async function setOnAir(on) {
	g.busy = true;
	render();
	try {
		const data = await request('on_air', { on_air: on });
		if (typeof data.on_air === 'boolean')
			g.onAir = data.on_air;
	} catch (e) {
		warn(errorText(infoOf(e)));
	} finally {
		g.busy = false;
		render();
	}
}

function toggleMute() {
	const track = micTrack();
	if (!track)
		return;
	g.muted = !g.muted;
	track.enabled = !g.muted;
	render();
}

// ---- the read-only hook for the tests

function rxSpectrum() {
	if (!g.rxAnalyser)
		return null;
	const db = new Float32Array(g.rxAnalyser.frequencyBinCount);
	g.rxAnalyser.getFloatFrequencyData(db);
	return db;
}

const hook = Object.freeze({
	get state() {
		return g.state;
	},
	get error() {
		return g.error ? { ...g.error } : null;
	},
	// the strongest frequency of the received audio, parabolic between bins; 0 in silence
	dominantHz() {
		const db = rxSpectrum();
		if (!db)
			return 0;
		let k = 1;
		for (let i = 2; i < db.length - 1; i++)
			if (db[i] > db[k])
				k = i;
		if (!(db[k] > -120))
			return 0;
		const a = db[k - 1], b = db[k], c = db[k + 1];
		const d = a - 2 * b + c;
		const off = d < 0 ? 0.5 * (a - c) / d : 0;
		return (k + off) * g.audio.sampleRate / RX_FFT;
	},
	// the strongest bin within 3 bins of hz, in the analyser's dB
	bandDb(hz) {
		const db = rxSpectrum();
		if (!db)
			return -200;
		const k = Math.round(hz * RX_FFT / g.audio.sampleRate);
		let best = -Infinity;
		for (let i = Math.max(0, k - 3); i <= Math.min(db.length - 1, k + 3); i++)
			best = Math.max(best, db[i]);
		return Number.isFinite(best) ? best : -200;
	},
	// RMS of the received audio's last fftSize samples, dBFS
	levelDb() {
		if (!g.rxAnalyser)
			return -200;
		const x = new Float32Array(RX_FFT);
		g.rxAnalyser.getFloatTimeDomainData(x);
		let sum = 0;
		for (const v of x)
			sum += v * v;
		const rms = Math.sqrt(sum / x.length);
		return rms > 0 ? Math.max(-200, 20 * Math.log10(rms)) : -200;
	},
	async stats() {
		if (!g.pc)
			return null;
		const out = { packetsReceived: 0, packetsLost: 0, jitter: 0, packetsSent: 0 };
		(await g.pc.getStats()).forEach((s) => {
			if (s.type === 'inbound-rtp' && s.kind === 'audio') {
				out.packetsReceived = s.packetsReceived || 0;
				out.packetsLost = s.packetsLost || 0;
				out.jitter = s.jitter || 0;
			} else if (s.type === 'outbound-rtp' && s.kind === 'audio') {
				out.packetsSent = s.packetsSent || 0;
			}
		});
		return out;
	},
});
Object.defineProperty(window, 'airmixGuest', { value: hook, enumerable: true });

// ---- start

function start() {
	$('room-name').textContent = link.room || '(none)';
	$('join').addEventListener('click', join);
	$('leave').addEventListener('click', leave);
	$('mute').addEventListener('click', toggleMute);
	$('go-live').addEventListener('click', () => setOnAir(true));
	$('go-green').addEventListener('click', () => setOnAir(false));
	$('mic').addEventListener('change', (e) => switchMic(e.target.value).catch((err) => warn(errorText(infoOf(err)))));
	$('volume').addEventListener('input', (e) => {
		$('remote').volume = Number(e.target.value) / 100;
	});
	if (navigator.mediaDevices)
		navigator.mediaDevices.addEventListener('devicechange', () => fillMics().catch(() => {}));
	if (!link.room || !link.token) {
		g.error = { domain: 'page', name: 'BAD_LINK', message: 'this link has no room or no token: ask the engineer for the link again' };
		setState('error');
	} else if (!window.isSecureContext || !navigator.mediaDevices) {
		g.error = { domain: 'page', name: 'INSECURE_PAGE', message: 'browsers give the microphone only to pages opened with https://' };
		setState('error');
	} else {
		setState('ready');
	}
}

start();
