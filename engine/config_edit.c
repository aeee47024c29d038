/* config_edit.c - changing keys in a config file on disk, atomically (see
 * config_edit.h).
 *
 * Threads: any non-RT thread; everything works on the caller's data.
 */
#include "engine/config_edit.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/config.h"

#define EDITS_MAX 256

/* The file as lines, and where each edit goes. */
struct text {
	char **lines;
	size_t n;
	long replace[EDITS_MAX];	/* line to replace, -1 */
	long after[EDITS_MAX];		/* last line of the section, -1 = no section */
};

static void text_free(struct text *t)
{
	for (size_t i = 0; i < t->n; i++)
		free(t->lines[i]);
	free(t->lines);
}

static int text_read(const char *path, struct text *t)
{
	FILE *f = fopen(path, "r");
	char *line = NULL;
	size_t cap = 0, room = 0;
	ssize_t got;

	if (!f)
		return errno == ENOENT ? 0 : -errno;
	while ((got = getline(&line, &cap, f)) >= 0) {
		if (t->n == room) {
			char **more = realloc(t->lines, (room ? room * 2 : 64) * sizeof(*more));

			if (!more)
				break;
			t->lines = more;
			room = room ? room * 2 : 64;
		}
		while (got && (line[got - 1] == '\n' || line[got - 1] == '\r'))
			line[--got] = '\0';
		t->lines[t->n] = strdup(line);
		if (!t->lines[t->n])
			break;
		t->n++;
	}
	free(line);
	got = ferror(f) || !feof(f) ? -EIO : 0;
	fclose(f);
	return (int)got;
}

/* "  [name]  ; x" -> name; false when the line is no section header. */
static bool section_of(const char *line, char *name, size_t len)
{
	const char *s = line + strspn(line, " \t"), *end;

	if (*s != '[' || !(end = strchr(s, ']')))
		return false;
	s++;
	while (s < end && isspace((unsigned char)*s))
		s++;
	while (end > s && isspace((unsigned char)end[-1]))
		end--;
	snprintf(name, len, "%.*s", (int)(end - s), s);
	return true;
}

/* "  key = value" -> key; false for comments, blanks and headers. */
static bool key_of(const char *line, char *key, size_t len)
{
	const char *s = line + strspn(line, " \t"), *end;

	if (!*s || *s == '#' || *s == ';' || *s == '[')
		return false;
	end = s + strcspn(s, "=:");
	if (!*end)
		return false;
	while (end > s && isspace((unsigned char)end[-1]))
		end--;
	snprintf(key, len, "%.*s", (int)(end - s), s);
	return true;
}

static void locate(struct text *t, const struct config_edit *edits, size_t n)
{
	char section[128] = "", name[128];
	size_t i, k;

	for (k = 0; k < n; k++)
		t->replace[k] = t->after[k] = -1;
	for (i = 0; i < t->n; i++) {
		bool header = section_of(t->lines[i], section, sizeof(section));
		bool is_key = !header && key_of(t->lines[i], name, sizeof(name));

		for (k = 0; k < n; k++) {
			if (strcmp(section, edits[k].section))
				continue;
			if (header || is_key)
				t->after[k] = (long)i;
			if (is_key && t->replace[k] < 0 && !strcmp(name, edits[k].key))
				t->replace[k] = (long)i;
		}
	}
}

/* A value as a file line carries it: quoted when it has blanks at an end,
 * is empty, or holds a '#'. */
static void put_key(FILE *out, const struct config_edit *e)
{
	size_t n = strlen(e->value);
	bool quote = !n || isspace((unsigned char)e->value[0]) ||
		     isspace((unsigned char)e->value[n - 1]) || strchr(e->value, '#') ||
		     e->value[0] == '"';

	fprintf(out, "%s = %s%s%s\n", e->key, quote ? "\"" : "", e->value, quote ? "\"" : "");
}

static char *text_build(struct text *t, const struct config_edit *edits, size_t n, size_t *len)
{
	char *buf = NULL;
	FILE *out = open_memstream(&buf, len);
	bool done[EDITS_MAX] = { false };
	size_t i, k, j;

	if (!out)
		return NULL;
	for (i = 0; i < t->n; i++) {
		for (k = 0; k < n && t->replace[k] != (long)i; k++)
			;
		if (k < n) {
			put_key(out, &edits[k]);
			done[k] = true;
		} else {
			fprintf(out, "%s\n", t->lines[i]);
		}
		for (k = 0; k < n; k++) {
			if (t->replace[k] < 0 && t->after[k] == (long)i && !done[k]) {
				put_key(out, &edits[k]);
				done[k] = true;
			}
		}
	}
	for (k = 0; k < n; k++) {	/* sections the file does not have */
		if (done[k])
			continue;
		fprintf(out, "\n[%s]\n", edits[k].section);
		for (j = k; j < n; j++) {
			if (!done[j] && !strcmp(edits[j].section, edits[k].section)) {
				put_key(out, &edits[j]);
				done[j] = true;
			}
		}
	}
	if (fclose(out)) {
		free(buf);
		return NULL;
	}
	return buf;
}

static int write_all(int fd, const char *buf, size_t len)
{
	while (len) {
		ssize_t w = write(fd, buf, len);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return w < 0 ? -errno : -EIO;
		buf += w;
		len -= (size_t)w;
	}
	return 0;
}

/* The text must load, and each key must read back as asked. */
static int verify(const char *tmp, const struct config_edit *edits, size_t n, char *err,
		  size_t errlen)
{
	struct config_errors errs = { .count = 0 };
	struct airmix_config cfg, want;
	char got[CONFIG_STR_MAX], exp[CONFIG_STR_MAX];
	int rc;

	config_defaults(&cfg);
	rc = config_load(tmp, &cfg, &errs);
	if (rc) {
		snprintf(err, errlen, "the new file would not load: %s",
			 errs.count ? errs.items[0].text : strerror(-rc));
		return -EINVAL;
	}
	for (size_t k = 0; k < n; k++) {
		want = cfg;
		if (config_set(&want, edits[k].section, edits[k].key, edits[k].value, "edit",
			       &errs) ||
		    config_get_text(&want, edits[k].section, edits[k].key, exp, sizeof(exp)) ||
		    config_get_text(&cfg, edits[k].section, edits[k].key, got, sizeof(got)) ||
		    strcmp(got, exp)) {
			snprintf(err, errlen, "%s.%s would not read back as written", edits[k].section,
				 edits[k].key);
			return -EINVAL;
		}
	}
	return 0;
}

static int value_ok(const struct config_edit *e, char *err, size_t errlen)
{
	for (const char *c = e->value; *c; c++) {
		if ((unsigned char)*c < 0x20 || *c == 0x7f) {
			snprintf(err, errlen, "%s.%s: the value must not hold control characters",
				 e->section, e->key);
			return -EINVAL;
		}
		if (*c == ';' && c > e->value && isspace((unsigned char)c[-1])) {
			snprintf(err, errlen, "%s.%s: the value must not hold \" ;\" (it starts a "
				 "comment)", e->section, e->key);
			return -EINVAL;
		}
	}
	return 0;
}

/* path.bak becomes the old file: a hard link made under a temporary name
 * and renamed over the previous backup. */
static int keep_backup(const char *path, char *err, size_t errlen)
{
	char bak[PATH_MAX], tmp[PATH_MAX];

	if (snprintf(bak, sizeof(bak), "%s.bak", path) >= (int)sizeof(bak) ||
	    snprintf(tmp, sizeof(tmp), "%s.bak.tmp", path) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	unlink(tmp);
	if (link(path, tmp) || rename(tmp, bak)) {
		int rc = -errno;

		unlink(tmp);
		snprintf(err, errlen, "cannot keep the backup %s: %s", bak, strerror(-rc));
		return rc;
	}
	return 0;
}

static void sync_dir_of(const char *path)
{
	char copy[PATH_MAX];
	int fd;

	snprintf(copy, sizeof(copy), "%s", path);
	fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		fsync(fd);
		close(fd);
	}
}

int config_file_set(const char *path, const struct config_edit *edits, size_t n, char *err,
		    size_t errlen)
{
	struct text t = { 0 };
	char tmp[PATH_MAX], *buf = NULL;
	struct stat st;
	bool existed = stat(path, &st) == 0;
	size_t len = 0;
	int fd = -1, rc;

	if (n > EDITS_MAX) {
		snprintf(err, errlen, "too many keys at once (at most %d)", EDITS_MAX);
		return -E2BIG;
	}
	for (size_t k = 0; k < n; k++)
		if ((rc = value_ok(&edits[k], err, errlen)))
			return rc;
	rc = text_read(path, &t);
	if (rc) {
		snprintf(err, errlen, "cannot read %s: %s", path, strerror(-rc));
		goto out_free_text;
	}
	locate(&t, edits, n);
	buf = text_build(&t, edits, n, &len);
	if (!buf) {
		rc = -ENOMEM;
		snprintf(err, errlen, "out of memory");
		goto out_free_text;
	}
	if (snprintf(tmp, sizeof(tmp), "%s.XXXXXX", path) >= (int)sizeof(tmp)) {
		rc = -ENAMETOOLONG;
		snprintf(err, errlen, "path too long: %s", path);
		goto out_free_buf;
	}
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0) {
		rc = -errno;
		snprintf(err, errlen, "cannot create a file beside %s: %s", path, strerror(-rc));
		goto out_free_buf;
	}
	if (existed) {
		fchmod(fd, st.st_mode & 07777);
		if (fchown(fd, st.st_uid, st.st_gid) < 0) {
			/* not root: the file stays ours, as the old one was */
		}
	}
	rc = write_all(fd, buf, len);
	if (!rc && fsync(fd))
		rc = -errno;
	if (close(fd) && !rc)
		rc = -errno;
	if (rc) {
		snprintf(err, errlen, "cannot write %s: %s", tmp, strerror(-rc));
		goto out_unlink;
	}
	rc = verify(tmp, edits, n, err, errlen);
	if (rc)
		goto out_unlink;
	if (existed && (rc = keep_backup(path, err, errlen)))
		goto out_unlink;
	if (rename(tmp, path)) {
		rc = -errno;
		snprintf(err, errlen, "cannot replace %s: %s", path, strerror(-rc));
		goto out_unlink;
	}
	sync_dir_of(path);
	goto out_free_buf;

out_unlink:
	unlink(tmp);
out_free_buf:
	free(buf);
out_free_text:
	text_free(&t);
	return rc;
}
