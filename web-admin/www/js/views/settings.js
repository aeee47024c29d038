// settings.js - the configuration, one field per key grouped by section,
// checked as it is typed (type, range, choices); Save sends the changed keys,
// the server writes the file atomically and applies what can change live, and
// the page says which keys wait for a restart. Admin only.

import { get, put, missing } from '../api.js';
import { h, showError, act, errorNodes } from '../ui.js';

const keyName = (k) => k.name || `${k.section}.${k.key}`;

function validate(k, text) {
	if (k.type === 'int' || k.type === 'double') {
		if (text.trim() === '')
			return 'a number is required';
		const v = Number(text);
		if (!isFinite(v))
			return 'not a number';
		if (k.type === 'int' && !Number.isInteger(v))
			return 'a whole number is required';
		if (k.min !== undefined && k.min !== null && v < k.min)
			return `at least ${k.min}${k.unit ? ' ' + k.unit : ''}`;
		if (k.max !== undefined && k.max !== null && v > k.max)
			return `at most ${k.max}${k.unit ? ' ' + k.unit : ''}`;
	}
	if (k.type === 'enum' && k.choices && !k.choices.includes(text))
		return `one of ${k.choices.join(', ')}`;
	if (k.nonempty && text === '')
		return 'must not be empty';
	return '';
}

export function create(section, ctx) {
	const unavailable = h('p', { class: 'muted-note', hidden: true, id: 'settings-unavailable' },
		'Settings are not available on this server yet (no /api/v1/config).');
	const save = h('button', { type: 'button', class: 'primary', id: 'settings-save', disabled: true }, 'Save');
	const revert = h('button', { type: 'button', id: 'settings-revert', disabled: true }, 'Revert');
	const status = h('div', { id: 'settings-status', 'aria-live': 'polite' });
	const err = h('p', { hidden: true, id: 'settings-error' });
	const body = h('div', { id: 'settings-form' });
	section.append(h('h2', { id: 'h-settings' }, 'Settings'), unavailable,
		h('div', { class: 'row', style: 'position:sticky;top:0;background:var(--bg);padding:.4rem 0;z-index:1' }, save, revert, status),
		err, body);

	let keys = [];
	const controls = new Map();	/* name -> {k, input, msg, orig} */

	function control(k) {
		const id = `set-${k.section}-${k.key}`;
		const value = k.value === null || k.value === undefined ? '' : String(k.value);
		let input;
		if (k.type === 'bool') {
			input = h('input', { type: 'checkbox', id, checked: value === 'true' });
		} else if (k.type === 'enum' && k.choices) {
			input = h('select', { id }, k.choices.map((c) => h('option', { value: c, selected: c === value }, c)));
		} else if (k.secret) {
			input = h('input', { id, type: 'password', readonly: true, value: '',
				placeholder: k.set ? 'set (change with airmixctl passwd or in the file)' : 'not set' });
		} else {
			input = h('input', { id, value, autocomplete: 'off',
				type: k.type === 'int' || k.type === 'double' ? 'number' : 'text',
				step: k.type === 'double' ? 'any' : null, min: k.min ?? null, max: k.max ?? null });
		}
		const msg = h('div', { class: 'msg', id: `${id}-msg`, 'aria-live': 'polite' });
		input.setAttribute('aria-describedby', `${id}-msg ${id}-doc`);
		const c = { k, input, msg, orig: k.secret ? '' : value };
		if (k.restart_pending)
			msg.replaceChildren(h('span', { class: 'badge restart' }, `saved; running ${k.running}: restart airmixd to apply`));
		controls.set(keyName(k), c);
		input.addEventListener(k.type === 'bool' || k.type === 'enum' ? 'change' : 'input', () => check(c));
		const range = (k.min !== undefined && k.min !== null) ? ` ${k.min}–${k.max}` : '';
		return h('div', { class: 'setting', dataset: { key: keyName(k) } },
			h('div', {}, h('label', { for: id, style: 'color:var(--text)' }, k.key), ' ',
				h('span', { class: k.live ? 'badge' : 'badge restart' }, k.live ? 'live' : 'restart')),
			h('div', {}, input, msg),
			h('div', { class: 'hint', id: `${id}-doc` }, k.doc || '', ` (${k.type}${range}${k.unit ? ' ' + k.unit : ''}, default ${k.default === '' ? '""' : k.default})`));
	}

	function current(c) {
		return c.k.type === 'bool' ? String(c.input.checked) : c.input.value;
	}

	function check(c) {
		const v = current(c);
		const problem = c.k.secret ? '' : validate(c.k, v);
		c.input.setAttribute('aria-invalid', problem ? 'true' : 'false');
		const changed = !c.k.secret && v !== c.orig;
		c.msg.replaceChildren(problem ? h('span', { class: 'error' }, problem)
			: changed ? h('span', { class: 'badge changed' }, c.k.live ? 'changed' : 'changed: needs a restart') : '');
		c.invalid = !!problem;
		c.changed = changed;
		const all = [...controls.values()];
		save.disabled = !all.some((x) => x.changed) || all.some((x) => x.invalid);
		revert.disabled = !all.some((x) => x.changed);
	}

	function render() {
		const sections = [...new Set(keys.map((k) => k.section))];
		controls.clear();
		body.replaceChildren(...sections.map((s) => h('fieldset', { class: 'settings-section' }, h('legend', {}, `[${s}]`),
			keys.filter((k) => k.section === s).map(control))));
		save.disabled = revert.disabled = true;
	}

	async function load() {
		try {
			const r = await get('/api/v1/config');
			keys = Array.isArray(r) ? r : r.keys || [];
			unavailable.hidden = true;
			render();
			status.replaceChildren(r.file ? h('span', { class: 'dim' }, `File: ${r.file}`) : h('span', { class: 'warn-text' }, 'airmixd runs without a config file: nothing can be saved'));
			showError(err, null);
		} catch (e) {
			if (missing(e)) {
				unavailable.hidden = false;
				body.replaceChildren();
			} else {
				showError(err, e);
			}
		}
	}

	save.onclick = () => act(save, err, async () => {
		const changes = {};
		for (const [name, c] of controls)
			if (c.changed) {
				const v = current(c);
				changes[name] = c.k.type === 'int' || c.k.type === 'double' ? Number(v) : c.k.type === 'bool' ? v === 'true' : v;
			}
		try {
			const r = await put('/api/v1/config', changes);
			const restart = r.restart || [];
			await load();
			status.replaceChildren(h('span', { class: 'ok-text' }, `Saved to ${r.file} (backup ${r.backup}).`),
				r.applied && r.applied.length ? ` Applied live: ${r.applied.join(', ')}.` : '',
				restart.length ? h('span', { class: 'warn-text' }, ` Needs a restart of airmixd: ${restart.join(', ')}.`) : '');
		} catch (e) {
			const where = e.key || (e.message.match(/([a-z_]+\.[a-z_]+)/) || [])[1];
			const c = where && controls.get(where);
			if (c) {
				c.msg.replaceChildren(h('span', { class: 'error' }, ...errorNodes(e)));
				c.input.focus();
			}
			throw e;
		}
	});
	revert.onclick = () => render();

	return {
		show() {
			load();
		},
		hide() {},
	};
}
