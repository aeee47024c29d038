// api.js - the REST client: JSON in and out, the session cookie (sent by the
// browser), the CSRF token on every state-changing request, and errors as
// ApiError with the server's domain, code, name and message.

export class ApiError extends Error {
	constructor(status, err, retryAfter) {
		super(err.message || `HTTP ${status}`);
		this.status = status;
		this.domain = err.domain || 'http';
		this.code = err.code ?? status;
		this.name = err.name || `HTTP_${status}`;
		this.retryAfter = retryAfter;
	}
}

const session = { csrf: '', role: 'admin', user: '', auth: false };
const listeners = { unauthorized: [] };

export function getSession() {
	return session;
}

export function setSession(s) {
	session.csrf = s.csrf || '';
	session.role = s.role || 'admin';
	session.user = s.user || '';
	session.auth = s.auth !== false && !!s.user;
	session.expires = s.expires;
}

// fn() is called when a request answers 401 (the session is gone).
export function onUnauthorized(fn) {
	listeners.unauthorized.push(fn);
}

async function parse(resp) {
	const text = await resp.text();
	if (!text)
		return null;
	try {
		return JSON.parse(text);
	} catch {
		return text;
	}
}

// api('GET', '/api/v1/health') -> parsed JSON. Throws ApiError.
// opts.raw: body sent as is (a File/Blob), opts.type: its content type.
export async function api(method, path, body, opts = {}) {
	const headers = {};
	let payload;
	if (opts.raw !== undefined) {
		payload = opts.raw;
		headers['Content-Type'] = opts.type || 'application/octet-stream';
	} else if (body !== undefined) {
		payload = JSON.stringify(body);
		headers['Content-Type'] = 'application/json';
	}
	if (method !== 'GET' && session.csrf)
		headers['X-CSRF-Token'] = session.csrf;
	let resp;
	try {
		resp = await fetch(path, { method, headers, body: payload, credentials: 'same-origin', cache: 'no-store' });
	} catch (e) {
		throw new ApiError(0, { domain: 'network', code: 0, name: 'UNREACHABLE', message: `airmixd does not answer (${e.message})` });
	}
	const data = await parse(resp);
	if (!resp.ok) {
		const err = data && data.error ? data.error : { message: typeof data === 'string' ? data : `HTTP ${resp.status}` };
		const e = new ApiError(resp.status, err, resp.headers.get('Retry-After'));
		if (resp.status === 401 && !opts.noAuthHook)
			listeners.unauthorized.forEach((fn) => fn(e));
		throw e;
	}
	return data;
}

export const get = (path, opts) => api('GET', path, undefined, opts);
export const post = (path, body, opts) => api('POST', path, body === undefined ? {} : body, opts);
export const put = (path, body, opts) => api('PUT', path, body, opts);
export const del = (path, opts) => api('DELETE', path, undefined, opts);

// Does the server have this route? false on 404 (a part not built yet).
export function missing(e) {
	return e instanceof ApiError && e.status === 404 && (e.name === 'API_NOT_FOUND' || e.domain === 'http');
}
