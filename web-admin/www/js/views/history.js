// history.js - the error history: filters (time range, domain, level, code,
// subject), paging, a live tail from the event stream, and CSV export.

import { get, ApiError, missing } from '../api.js';
import { h, field, showError, table, td } from '../ui.js';

const PAGE = 50;
const DOMAINS = ['rtc', 'audio_mixing', 'stream_mixing', 'forward_stream', 'engine', 'config', 'history', 'api', 'recorder'];

function csvCell(v) {
	const s = String(v ?? '');
	return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

// "2026-11-26 01:41:09.123", local time
function stamp(us) {
	const d = new Date(us / 1000), two = (n) => String(n).padStart(2, '0');
	return `${d.getFullYear()}-${two(d.getMonth() + 1)}-${two(d.getDate())} ${two(d.getHours())}:` +
		`${two(d.getMinutes())}:${two(d.getSeconds())}.${String(d.getMilliseconds()).padStart(3, '0')}`;
}

export function create(section, ctx) {
	const since = h('input', { id: 'hist-since', type: 'datetime-local', step: '1' });
	const until = h('input', { id: 'hist-until', type: 'datetime-local', step: '1' });
	const domain = h('select', { id: 'hist-domain' }, h('option', { value: '' }, 'any'), DOMAINS.map((d) => h('option', { value: d }, d)));
	const level = h('select', { id: 'hist-level' }, ['', 'error', 'warning', 'state'].map((l) => h('option', { value: l }, l || 'any')));
	const code = h('input', { id: 'hist-code', type: 'number', step: '1', placeholder: 'any' });
	const subject = h('input', { id: 'hist-subject', placeholder: 'mix 3, take 2, …', maxlength: '127' });
	const apply = h('button', { type: 'submit', class: 'primary', id: 'hist-apply' }, 'Apply');
	const reset = h('button', { type: 'button', id: 'hist-reset' }, 'Clear filters');
	const tail = h('input', { type: 'checkbox', id: 'hist-tail', checked: true });
	const exportBtn = h('button', { type: 'button', id: 'hist-export' }, 'Export CSV');
	const prev = h('button', { type: 'button', id: 'hist-prev' }, '← Newer');
	const next = h('button', { type: 'button', id: 'hist-next' }, 'Older →');
	const info = h('span', { class: 'dim', id: 'hist-info', 'aria-live': 'polite' });
	const err = h('p', { hidden: true, id: 'hist-error' });
	const body = h('tbody', { id: 'hist-rows' });
	const form = h('form', { class: 'panel row', id: 'hist-form' },
		field('Since', since), field('Until', until), field('Domain', domain), field('Level', level),
		field('Code', code), field('Subject', subject), apply, reset);
	section.append(h('h2', { id: 'h-history' }, 'History'), form,
		h('div', { class: 'row', style: 'margin:.6rem 0' }, prev, next, info,
			h('label', { for: tail.id, style: 'display:flex;gap:.3rem;align-items:center;color:var(--text)' }, tail, 'Live tail'),
			h('span', { style: 'flex:1' }), exportBtn),
		err,
		h('div', { class: 'scroll' }, h('table', { id: 'hist-table' },
			h('thead', {}, h('tr', {}, ['Time', 'Level', 'Domain', 'Code', 'Name', 'Subject', 'Message', 'Request'].map((t) => h('th', { scope: 'col' }, t)))),
			body)));

	let offset = 0, total = 0, filters = {};

	function readFilters() {
		const f = {};
		if (since.value)
			f.since = String(new Date(since.value).getTime() * 1000);
		if (until.value)
			f.until = String(new Date(until.value).getTime() * 1000);
		if (domain.value)
			f.domain = domain.value;
		if (level.value)
			f.level = level.value;
		if (code.value !== '')
			f.code = code.value;
		if (subject.value.trim())
			f.subject = subject.value.trim();
		return f;
	}

	const query = (extra) => new URLSearchParams({ ...filters, ...extra }).toString();

	function rowOf(r, fresh) {
		return h('tr', { class: `level-${r.level}${fresh ? ' fresh' : ''}`, dataset: { code: String(r.code), domain: r.domain } },
			td(stamp(r.time_us), 'mono'),
			td(r.level), td(r.domain), td(String(r.code), 'num'), td(r.name), td(r.subject),
			td(r.message), td(h('span', { class: 'mono dim' }, r.request || '')));
	}

	async function load() {
		try {
			const r = await get(`/api/v1/history?${query({ limit: String(PAGE), offset: String(offset) })}`);
			total = r.total;
			body.replaceChildren(...r.rows.map((row) => rowOf(row, false)));
			body.dataset.query = query({ offset: String(offset) });
			showError(err, null);
		} catch (e) {
			showError(err, e);
		}
		paging();
	}

	function paging() {
		const shown = body.children.length;
		info.textContent = total ? `rows ${offset + 1}–${offset + shown} of ${total}` : 'no rows';
		prev.disabled = offset === 0;
		next.disabled = offset + PAGE >= total;
	}

	function matches(ev) {
		if (ev.level === 'info')
			return false;	/* info events are not stored in the history */
		if (filters.domain && ev.domain !== filters.domain)
			return false;
		if (filters.level && ev.level !== filters.level)
			return false;
		if (filters.code !== undefined && String(ev.code) !== filters.code)
			return false;
		if (filters.subject && ev.subject !== filters.subject)
			return false;
		if (filters.since && ev.time_us < Number(filters.since))
			return false;
		if (filters.until && ev.time_us > Number(filters.until))
			return false;
		return true;
	}

	ctx.stream.on('event', (ev) => {
		if (section.hidden || !tail.checked || offset !== 0 || !matches(ev))
			return;
		body.prepend(rowOf(ev, true));
		while (body.children.length > PAGE)
			body.lastChild.remove();
		total++;
		paging();
	});

	form.addEventListener('submit', (e) => {
		e.preventDefault();
		filters = readFilters();
		offset = 0;
		load();
	});
	reset.onclick = () => {
		form.reset();
		filters = {};
		offset = 0;
		load();
	};
	prev.onclick = () => {
		offset = Math.max(0, offset - PAGE);
		load();
	};
	next.onclick = () => {
		offset += PAGE;
		load();
	};

	function save(text, name) {
		const a = h('a', { href: URL.createObjectURL(new Blob([text], { type: 'text/csv' })), download: name });
		document.body.append(a);
		a.click();
		a.remove();
		setTimeout(() => URL.revokeObjectURL(a.href), 10000);
	}

	// The server's CSV when it has the route, else built here from the JSON
	// pages (at most 100 000 rows).
	exportBtn.onclick = async () => {
		exportBtn.disabled = true;
		const name = `airmix-history-${new Date().toISOString().slice(0, 19).replace(/[:T]/g, '')}.csv`;
		try {
			const q = query({});
			const resp = await fetch(`/api/v1/history.csv${q ? '?' + q : ''}`, { credentials: 'same-origin' });
			if (resp.ok) {
				save(await resp.text(), name);
			} else if (resp.status === 404) {
				const lines = ['time,time_us,level,domain,code,name,subject,message,request'];
				let before = null;
				for (let i = 0; i < 100; i++) {
					const r = await get(`/api/v1/history?${query(before ? { limit: '1000', before_id: String(before) } : { limit: '1000' })}`);
					for (const x of r.rows)
						lines.push([x.time, x.time_us, x.level, x.domain, x.code, x.name, x.subject, x.message, x.request].map(csvCell).join(','));
					if (!r.next_before_id)
						break;
					before = r.next_before_id;
				}
				save(lines.join('\r\n') + '\r\n', name);
			} else {
				const j = await resp.json().catch(() => ({}));
				throw new ApiError(resp.status, j.error || {});
			}
			showError(err, null);
		} catch (e) {
			showError(err, missing(e) ? new Error('CSV export is not available') : e);
		}
		exportBtn.disabled = false;
	};

	return {
		show() {
			load();
		},
		hide() {},
	};
}
