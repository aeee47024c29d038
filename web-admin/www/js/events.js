// events.js - the WebSocket /api/v1/events: hello, event and meter frames.
// It reconnects by itself when airmixd restarts or the network drops: the
// delay doubles from 250 ms up to 8 s, with +-20 % jitter, and resets once a
// connection has lasted 5 s. Listeners: on('event'|'meters'|'hello'|'state', fn).

const MIN_DELAY = 250;
const MAX_DELAY = 8000;

export class EventStream {
	constructor(url) {
		this.url = url;
		this.ws = null;
		this.delay = MIN_DELAY;
		this.timer = null;
		this.stopped = false;
		this.state = 'closed';
		this.connects = 0;
		this.openedAt = 0;
		this.handlers = { event: [], meters: [], hello: [], state: [] };
	}

	on(kind, fn) {
		this.handlers[kind].push(fn);
		return () => {
			this.handlers[kind] = this.handlers[kind].filter((f) => f !== fn);
		};
	}

	emit(kind, msg) {
		for (const fn of this.handlers[kind]) {
			try {
				fn(msg);
			} catch (e) {
				console.error(`events: ${kind} listener failed`, e);
			}
		}
	}

	setState(state) {
		this.state = state;
		this.emit('state', state);
	}

	start() {
		this.stopped = false;
		this.connect();
	}

	stop() {
		this.stopped = true;
		clearTimeout(this.timer);
		if (this.ws)
			this.ws.close();
		this.setState('closed');
	}

	connect() {
		clearTimeout(this.timer);
		this.setState(this.connects ? 'reconnecting' : 'connecting');
		let ws;
		try {
			ws = new WebSocket(this.url, 'airmix-events');
		} catch (e) {
			this.retry();
			return;
		}
		this.ws = ws;
		ws.onopen = () => {
			this.connects++;
			this.openedAt = performance.now();
			this.setState('open');
		};
		ws.onmessage = (m) => {
			let msg;
			try {
				msg = JSON.parse(m.data);
			} catch {
				return;
			}
			if (msg.type in this.handlers)
				this.emit(msg.type, msg);
		};
		ws.onclose = () => {
			if (this.ws !== ws)
				return;
			this.ws = null;
			if (this.openedAt && performance.now() - this.openedAt > 5000)
				this.delay = MIN_DELAY;
			this.openedAt = 0;
			if (!this.stopped)
				this.retry();
		};
		ws.onerror = () => {};	/* onclose follows */
	}

	retry() {
		this.setState('reconnecting');
		const jitter = 1 + (Math.random() * 0.4 - 0.2);
		this.timer = setTimeout(() => this.connect(), this.delay * jitter);
		this.delay = Math.min(this.delay * 2, MAX_DELAY);
	}
}
