// ui.js - small DOM and formatting helpers shared by the views.

// h('button', {class: 'go', onclick: f}, 'Play') -> element. Attributes
// starting with "on" are listeners; false/null/undefined attributes are left out.
export function h(tag, attrs, ...children) {
	const el = document.createElement(tag);
	for (const [k, v] of Object.entries(attrs || {})) {
		if (v === false || v === null || v === undefined)
			continue;
		if (k.startsWith('on') && typeof v === 'function')
			el.addEventListener(k.slice(2), v);
		else if (k === 'class')
			el.className = v;
		else if (k === 'dataset')
			Object.assign(el.dataset, v);
		else if (k in el && typeof v !== 'string')
			el[k] = v;
		else
			el.setAttribute(k, v === true ? '' : v);
	}
	for (const c of children.flat()) {
		if (c === null || c === undefined || c === false)
			continue;
		el.append(c instanceof Node ? c : document.createTextNode(String(c)));
	}
	return el;
}

let uid = 0;
export function nextId(prefix) {
	return `${prefix}-${++uid}`;
}

// A labelled control: returns [label, control] wrapped in a .field div.
export function field(labelText, control, extra) {
	if (!control.id)
		control.id = nextId('f');
	return h('div', { class: 'field' }, h('label', { for: control.id }, labelText), control, extra);
}

// Shows an error (an ApiError or any Error) inside el, with its code.
export function showError(el, err) {
	if (!err) {
		el.hidden = true;
		el.replaceChildren();
		return;
	}
	el.hidden = false;
	el.setAttribute('role', 'alert');
	el.classList.add('error');
	el.replaceChildren(...errorNodes(err));
}

export function errorNodes(err) {
	if (err && err.name && err.code !== undefined && err.domain)
		return [h('code', {}, `${err.domain} ${err.code}`), ' ', h('strong', {}, err.name),
			': ', err.message || ''];
	return [String(err && err.message ? err.message : err)];
}

export function fmtMs(ms) {
	if (ms === null || ms === undefined || ms < 0)
		return '–';
	const s = Math.floor(ms / 1000);
	const m = Math.floor(s / 60);
	return `${m}:${String(s % 60).padStart(2, '0')}.${String(Math.floor(ms % 1000 / 100))}`;
}

export function fmtDuration(seconds) {
	if (seconds === null || seconds === undefined)
		return '–';
	const s = Math.floor(seconds);
	const hh = Math.floor(s / 3600), mm = Math.floor(s / 60) % 60, ss = s % 60;
	const two = (n) => String(n).padStart(2, '0');
	return hh ? `${hh}:${two(mm)}:${two(ss)}` : `${mm}:${two(ss)}`;
}

export function fmtBytes(n) {
	if (n === null || n === undefined)
		return '–';
	const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
	let i = 0;
	while (n >= 1024 && i < units.length - 1) {
		n /= 1024;
		i++;
	}
	return `${i ? n.toFixed(1) : n} ${units[i]}`;
}

export function fmtTime(us) {
	if (!us)
		return '–';
	const d = new Date(us / 1000);
	return d.toLocaleString(undefined, { hour12: false });
}

export function pill(state) {
	return h('span', { class: 'pill', dataset: { state } }, state);
}

// Runs fn (an async action bound to a button): disables the button while it
// runs and shows an error in errEl. Returns fn's result or undefined.
export async function act(button, errEl, fn) {
	if (button)
		button.disabled = true;
	try {
		const r = await fn();
		if (errEl)
			showError(errEl, null);
		return r;
	} catch (e) {
		if (errEl)
			showError(errEl, e);
		else
			console.error(e);
		return undefined;
	} finally {
		if (button)
			button.disabled = false;
	}
}

// A table with headings; rows are arrays of cells (nodes or text). Cells in
// numeric columns (names in nums) are right-aligned.
export function table(headings, rows, nums = []) {
	return h('table', {},
		h('thead', {}, h('tr', {}, headings.map((t) => h('th', { scope: 'col', class: nums.includes(t) ? 'num' : null }, t)))),
		h('tbody', {}, rows));
}

export function td(content, cls) {
	return h('td', { class: cls || null }, content);
}
