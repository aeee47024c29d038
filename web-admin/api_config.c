/* api_config.c - the settings over REST.
 *
 * GET /api/v1/config: {"file", "keys": [{"name": "section.key", "section",
 * "key", "type", "value", "running", "default", "unit", "live",
 * "restart_pending", "doc", "min", "max", "choices", "secret", "set"}]}.
 * "value" is what the file says (what the next start uses), "running" what
 * the daemon runs with; restart_pending is true when a restart key differs.
 * Secrets (the token, password hashes) are never sent: their value is null
 * and "set" says whether they have one.
 *
 * PUT /api/v1/config {"section.key": value, ...}: every value is checked as
 * the file's loader would (config_set(), cross-key checks included) on the
 * file's current settings; one bad key refuses the whole request, its error
 * naming the key. Then the file is rewritten atomically (config_edit.c:
 * fsync, rename, one backup PATH.bak), the live keys are applied
 * (engine_apply_config) and the reply lists what needs a restart:
 * {"file", "backup", "saved": [...], "applied": [...], "restart": [...]}.
 * Secrets cannot be set here: passwords with `airmixctl passwd`, the token
 * in the file. Admin only (auth.c).
 *
 * Threads: the lws service thread only.
 */
#include "web-admin/api_config.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/config_edit.h"

#define PUT_KEYS_MAX 128

static const struct api_field any_fields[] = {
	{ API_ANY_FIELDS, FIELD_OBJECT, 0, 0, false, NULL },
	{ NULL, 0, 0, 0, false, NULL },
};

/* A key's value text as JSON of its type. */
static json_t *typed_json(const char *type, const char *text)
{
	if (!strcmp(type, "int"))
		return json_integer(strtoll(text, NULL, 10));
	if (!strcmp(type, "double"))
		return json_real(strtod(text, NULL));
	if (!strcmp(type, "bool"))
		return json_boolean(!strcmp(text, "true"));
	return api_text_json(text);
}

static json_t *choices_json(const char *const *choices)
{
	json_t *arr = json_array();

	for (; choices && *choices; choices++)
		json_array_append_new(arr, json_string(*choices));
	return arr;
}

static json_t *key_json(size_t i, const struct airmix_config *saved,
			const struct airmix_config *running)
{
	const struct config_key_info *k = config_key_at(i);
	const char *const *choices;
	char name[160], value[CONFIG_STR_MAX], run[CONFIG_STR_MAX];
	double min, max;
	bool secret, differs;
	json_t *j;

	config_key_limits(i, &min, &max, &choices, &secret);
	config_get_text(saved, k->section, k->key, value, sizeof(value));
	config_get_text(running, k->section, k->key, run, sizeof(run));
	differs = strcmp(value, run) != 0;
	snprintf(name, sizeof(name), "%s.%s", k->section, k->key);
	j = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:b,s:b,s:s,s:b}", "name", name,
		      "section", k->section, "key", k->key, "type", k->type, "default", k->def,
		      "unit", k->unit, "live", k->live, "restart_pending", !k->live && differs,
		      "doc", k->doc, "secret", secret);
	if (secret) {
		json_object_set_new(j, "value", json_null());
		json_object_set_new(j, "running", json_null());
		json_object_set_new(j, "set", json_boolean(value[0] != '\0'));
		return j;
	}
	json_object_set_new(j, "value", typed_json(k->type, value));
	json_object_set_new(j, "running", typed_json(k->type, run));
	if (!strcmp(k->type, "int") || !strcmp(k->type, "double")) {
		json_object_set_new(j, "min", json_real(min));
		json_object_set_new(j, "max", json_real(max));
	}
	if (choices)
		json_object_set_new(j, "choices", choices_json(choices));
	return j;
}

/* What the file says now (paths resolved as at start-up), or the running
 * config when the daemon started without a file. */
static int load_saved(struct call *c, struct airmix_config *saved)
{
	const struct airmix_config *running = engine_config(c->e);
	struct config_errors errs = { .count = 0 };
	int rc;

	if (!running->source_path[0]) {
		*saved = *running;
		return 0;
	}
	config_defaults(saved);
	rc = config_load(running->source_path, saved, &errs);
	if (rc) {
		api_call_fail(c, AIRMIX_DOMAIN_CONFIG, CONFIG_FILE_UNREADABLE, "%s",
			      errs.count ? errs.items[0].text : strerror(-rc));
		return rc;
	}
	config_resolve_paths(saved);
	return 0;
}

static void get_config(struct call *c)
{
	const struct airmix_config *running = engine_config(c->e);
	struct airmix_config *saved = malloc(sizeof(*saved));
	json_t *keys;

	if (!saved) {
		api_call_fail(c, AIRMIX_DOMAIN_API, API_INTERNAL, "settings: out of memory");
		return;
	}
	if (load_saved(c, saved))
		goto out;
	keys = json_array();
	for (size_t i = 0; i < config_key_count(); i++)
		json_array_append_new(keys, key_json(i, saved, running));
	api_reply_json(c->rep, 200, json_pack("{s:s?,s:o}", "file", running->source_path[0] ?
					      running->source_path : NULL, "keys", keys));
out:
	free(saved);
}

/* A JSON value as the text a file would hold; NULL for a type no key has. */
static const char *value_text(const json_t *v, char *buf, size_t len)
{
	if (json_is_string(v))
		return json_string_value(v);
	if (json_is_integer(v))
		snprintf(buf, len, "%lld", (long long)json_integer_value(v));
	else if (json_is_real(v))
		snprintf(buf, len, "%.17g", json_real_value(v));
	else if (json_is_boolean(v))
		snprintf(buf, len, "%s", json_is_true(v) ? "true" : "false");
	else
		return NULL;
	return buf;
}

/* One "section.key": value into the candidate and the edit list. */
static int put_one(struct call *c, const char *name, const json_t *v, struct airmix_config *cand,
		   struct config_edit *edit, char *section, char *texts)
{
	struct config_errors errs = { .count = 0 };
	const char *dot = strchr(name, '.'), *const *choices;
	char num[64], tmp[CONFIG_STR_MAX];
	const char *text;
	double min, max;
	bool secret = false;
	size_t i;

	if (!dot || dot == name || (size_t)(dot - name) >= 32) {
		api_call_fail(c, AIRMIX_DOMAIN_CONFIG, CONFIG_UNKNOWN_KEY,
			      "%s: settings are named section.key", name);
		return -EINVAL;
	}
	snprintf(section, 32, "%.*s", (int)(dot - name), name);
	for (i = 0; i < config_key_count(); i++)
		if (!strcmp(config_key_at(i)->section, section) &&
		    !strcmp(config_key_at(i)->key, dot + 1))
			break;
	if (i == config_key_count()) {
		api_call_fail(c, AIRMIX_DOMAIN_CONFIG, CONFIG_UNKNOWN_KEY, "%s: no such setting",
			      name);
		return -ENOENT;
	}
	config_key_limits(i, &min, &max, &choices, &secret);
	if (secret) {
		api_call_fail(c, AIRMIX_DOMAIN_CONFIG, CONFIG_INVALID_VALUE, "%s: a secret is not "
			      "set here: passwords with airmixctl passwd, the token in the file",
			      name);
		return -EPERM;
	}
	text = value_text(v, num, sizeof(num));
	if (!text) {
		api_call_fail(c, AIRMIX_DOMAIN_CONFIG, CONFIG_INVALID_VALUE, "%s: a value must be "
			      "a string, a number or a boolean", name);
		return -EINVAL;
	}
	if (config_set(cand, section, dot + 1, text, name, &errs)) {
		api_call_fail(c, AIRMIX_DOMAIN_CONFIG, CONFIG_INVALID_VALUE, "%s",
			      errs.count ? errs.items[0].text : name);
		return -EINVAL;
	}
	/* the stored text, so that the file says exactly what was checked */
	config_get_text(cand, section, dot + 1, tmp, sizeof(tmp));
	snprintf(texts, CONFIG_STR_MAX, "%s", tmp);
	edit->section = section;
	edit->key = config_key_at(i)->key;
	edit->value = texts;
	return 0;
}

struct put_state {
	struct airmix_config cand;
	struct config_edit edits[PUT_KEYS_MAX];
	char sections[PUT_KEYS_MAX][32];
	char texts[PUT_KEYS_MAX][CONFIG_STR_MAX];
	size_t n;
};

static void put_reply(struct call *c, struct put_state *p, const char *path)
{
	const struct airmix_config *running = engine_config(c->e);
	json_t *saved = json_array(), *applied = json_array(), *restart = json_array();
	char name[160], run[CONFIG_STR_MAX], bak[PATH_MAX + 8], list[1024] = "";
	size_t used = 0;

	for (size_t k = 0; k < p->n; k++) {
		const struct config_edit *e = &p->edits[k];
		bool live = false;

		for (size_t i = 0; i < config_key_count(); i++)
			if (!strcmp(config_key_at(i)->section, e->section) &&
			    !strcmp(config_key_at(i)->key, e->key))
				live = config_key_at(i)->live;
		snprintf(name, sizeof(name), "%s.%s", e->section, e->key);
		json_array_append_new(saved, json_string(name));
		config_get_text(running, e->section, e->key, run, sizeof(run));
		if (live) {
			json_array_append_new(applied, json_string(name));
		} else if (strcmp(run, e->value)) {
			json_array_append_new(restart, json_string(name));
			if (used < sizeof(list))
				used += (size_t)snprintf(list + used, sizeof(list) - used, "%s%s",
							 used ? ", " : "", name);
		}
	}
	if (used)
		engine_report(c->e, AIRMIX_DOMAIN_CONFIG, CONFIG_NEEDS_RESTART, path,
			      c->req->request, "saved keys need a restart to take effect: %s",
			      list);
	snprintf(bak, sizeof(bak), "%s.bak", path);
	api_reply_json(c->rep, 200, json_pack("{s:s,s:s,s:o,s:o,s:o}", "file", path,
		       "backup", bak, "saved", saved, "applied", applied, "restart", restart));
}

static void put_config(struct call *c)
{
	const char *path = engine_config(c->e)->source_path, *name;
	struct put_state *p = calloc(1, sizeof(*p));
	char err[512];
	json_t *v;
	int rc;

	if (!p) {
		api_call_fail(c, AIRMIX_DOMAIN_API, API_INTERNAL, "settings: out of memory");
		return;
	}
	if (!path[0]) {
		api_call_fail(c, AIRMIX_DOMAIN_CONFIG, CONFIG_WRITE_FAILED, "airmixd started "
			      "without --config: there is no file to save the settings to");
		goto out;
	}
	if (!json_object_size(c->body) || json_object_size(c->body) > PUT_KEYS_MAX) {
		api_call_fail(c, AIRMIX_DOMAIN_API, API_MISSING_FIELD, "give 1 to %d settings as "
			      "{\"section.key\": value}", PUT_KEYS_MAX);
		goto out;
	}
	if (load_saved(c, &p->cand))
		goto out;
	json_object_foreach(c->body, name, v) {
		if (put_one(c, name, v, &p->cand, &p->edits[p->n], p->sections[p->n],
			    p->texts[p->n]))
			goto out;
		p->n++;
	}
	rc = config_file_set(path, p->edits, p->n, err, sizeof(err));
	if (rc) {
		api_call_fail(c, AIRMIX_DOMAIN_CONFIG, CONFIG_WRITE_FAILED, "saving %s: %s", path,
			      err);
		goto out;
	}
	put_reply(c, p, path);
	snprintf(p->cand.source_path, sizeof(p->cand.source_path), "%s", path);
	engine_apply_config(c->e, &p->cand);
out:
	free(p);
}

const struct api_route api_config_routes[] = {
	{ "/api/v1/config", API_GET, NULL, NULL, get_config, API_ID_TEXT },
	{ "/api/v1/config", API_PUT, any_fields, NULL, put_config, API_ID_TEXT },
};

const size_t api_config_route_count = sizeof(api_config_routes) / sizeof(api_config_routes[0]);
