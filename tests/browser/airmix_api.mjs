// airmix_api.mjs - the REST call the browser suites share: a request to
// airmixd's API at AIRMIX_URL with the bearer token AIRMIX_TOKEN (none when
// it is empty), answered with its status, body text, parsed JSON (null when
// the body is not JSON) and headers.

const URL = process.env.AIRMIX_URL;
const TOKEN = process.env.AIRMIX_TOKEN || '';

export async function api(method, path, body) {
	const headers = TOKEN ? { Authorization: `Bearer ${TOKEN}` } : {};
	if (body !== undefined)
		headers['Content-Type'] = 'application/json';
	const r = await fetch(URL + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
	const text = await r.text();
	let json = null;
	try {
		json = JSON.parse(text);
	} catch { /* not json */ }
	return { status: r.status, json, text, headers: r.headers };
}
