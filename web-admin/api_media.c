/* api_media.c - the media folder over REST: upload, list, delete.
 *
 * POST /api/v1/media?name=NAME with the file as the raw body (any content
 * type but multipart; application/octet-stream is what the page sends) and
 * a Content-Length of at most [http] upload_max_mb: 201 with the file's
 * entry. NAME: at most 200 bytes, no '/' or '\', no "..", not starting with
 * '.', no control characters, extension wav, flac, ogg, opus, mp3 or rf64.
 * An existing name is 409 (never overwritten). The body goes to a
 * ".upload-XXXXXX" file in the media folder, is synced, opened with
 * libsndfile (not audio: 415 and deleted) and linked under NAME (link(2)
 * fails rather than replace a file that appeared meanwhile).
 *
 * GET /api/v1/media: {"files": [{"name", "size", "modified", "duration_s",
 * "format", "sample_rate", "channels"}]}, sorted by name; a file libsndfile
 * cannot open has null duration and format.
 * DELETE /api/v1/media/{name}: 204, 404 when there is no such file.
 *
 * Threads: the lws service thread only.
 */
#include "web-admin/api_media.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sndfile.h>

static const char *const extensions[] = { "wav", "flac", "ogg", "opus", "mp3", "rf64", NULL };

static const struct api_field raw_body[] = {
	{ API_RAW_BODY, FIELD_OBJECT, 0, 0, false, NULL },
	{ NULL, 0, 0, 0, false, NULL },
};

static const struct api_arg upload_args[] = {
	{ "name", ARG_TEXT, 0, MEDIA_NAME_MAX },
	{ NULL, 0, 0, 0 },
};

/* ---- names and paths */

const char *api_media_name_problem(const char *name)
{
	const char *dot = strrchr(name, '.');
	size_t n = strlen(name);

	if (!n)
		return "the name is empty";
	if (n > MEDIA_NAME_MAX)
		return "the name is longer than 200 bytes";
	if (strpbrk(name, "/\\"))
		return "the name must not hold a path separator";
	if (name[0] == '.')
		return "the name must not start with a dot";
	if (strstr(name, ".."))
		return "the name must not hold \"..\"";
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)name[i] < 0x20 || name[i] == 0x7f)
			return "the name must not hold control characters";
	if (dot && dot != name)
		for (int i = 0; extensions[i]; i++)
			if (!strcasecmp(dot + 1, extensions[i]))
				return NULL;
	return "the extension must be wav, flac, ogg, opus, mp3 or rf64";
}

static const char *media_dir(struct engine *e)
{
	return engine_config(e)->media_dir;
}

static int media_path(struct engine *e, const char *name, char *out, size_t len)
{
	return snprintf(out, len, "%s/%s", media_dir(e), name) >= (int)len ? -ENAMETOOLONG : 0;
}

/* fsync of the folder, so that a link or an unlink survives a crash. */
static void sync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd >= 0) {
		fsync(fd);
		close(fd);
	}
}

/* ---- one file's entry */

static json_t *file_json(const char *dir, const char *name)
{
	char path[PATH_MAX], when[40];
	SF_FORMAT_INFO fi = { 0 };
	SF_INFO info = { 0 };
	struct stat st;
	SNDFILE *sf;
	json_t *j;

	if (snprintf(path, sizeof(path), "%s/%s", dir, name) >= (int)sizeof(path) ||
	    stat(path, &st) || !S_ISREG(st.st_mode))
		return NULL;
	api_format_time((int64_t)st.st_mtime * 1000000, when, sizeof(when));
	j = json_pack("{s:o,s:I,s:s}", "name", api_text_json(name), "size",
		      (json_int_t)st.st_size, "modified", when);
	sf = sf_open(path, SFM_READ, &info);
	if (!sf || info.samplerate <= 0) {
		json_object_set_new(j, "duration_s", json_null());
		json_object_set_new(j, "format", json_null());
		if (sf)
			sf_close(sf);
		return j;
	}
	fi.format = info.format & SF_FORMAT_TYPEMASK;
	sf_command(sf, SFC_GET_FORMAT_INFO, &fi, sizeof(fi));
	json_object_set_new(j, "duration_s", json_real((double)info.frames / info.samplerate));
	json_object_set_new(j, "format", json_string(fi.name ? fi.name : "audio"));
	json_object_set_new(j, "sample_rate", json_integer(info.samplerate));
	json_object_set_new(j, "channels", json_integer(info.channels));
	sf_close(sf);
	return j;
}

/* ---- list, delete */

static int by_name(const void *a, const void *b)
{
	return strcmp(json_string_value(json_object_get(*(json_t *const *)a, "name")),
		      json_string_value(json_object_get(*(json_t *const *)b, "name")));
}

static void get_list(struct call *c)
{
	const char *dir = media_dir(c->e);
	json_t **items, *arr;
	struct dirent *d;
	size_t n = 0, i;
	DIR *dh;

	dh = opendir(dir);
	if (!dh) {
		api_call_fail(c, AIRMIX_DOMAIN_API, API_INTERNAL, "cannot read the media folder "
			      "%s: %s", dir, strerror(errno));
		return;
	}
	items = calloc(MEDIA_LIST_MAX, sizeof(*items));
	while (items && n < MEDIA_LIST_MAX && (d = readdir(dh))) {
		if (api_media_name_problem(d->d_name))
			continue;	/* dot files, uploads in progress, other files */
		items[n] = file_json(dir, d->d_name);
		if (items[n])
			n++;
	}
	closedir(dh);
	if (!items) {
		api_call_fail(c, AIRMIX_DOMAIN_API, API_INTERNAL, "media list: out of memory");
		return;
	}
	qsort(items, n, sizeof(*items), by_name);
	arr = json_array();
	for (i = 0; i < n; i++)
		json_array_append_new(arr, items[i]);
	free(items);
	api_reply_json(c->rep, 200, json_pack("{s:o,s:s}", "files", arr, "dir", dir));
}

static void delete_one(struct call *c)
{
	const char *problem = api_media_name_problem(c->id_text);
	char path[PATH_MAX];
	struct stat st;

	if (problem) {
		api_call_fail(c, AIRMIX_DOMAIN_API, API_NOT_FOUND, "no media file \"%.200s\": %s",
			      c->id_text, problem);
		return;
	}
	if (media_path(c->e, c->id_text, path, sizeof(path)) || lstat(path, &st) ||
	    !S_ISREG(st.st_mode)) {
		api_call_fail(c, AIRMIX_DOMAIN_API, API_NOT_FOUND, "no media file \"%s\"",
			      c->id_text);
		return;
	}
	if (unlink(path)) {
		api_call_fail(c, AIRMIX_DOMAIN_API, API_INTERNAL, "cannot delete %s: %s", path,
			      strerror(errno));
		return;
	}
	sync_dir(media_dir(c->e));
	api_reply_json(c->rep, 204, NULL);
}

/* ---- upload */

static const char *query_name(const struct api_request *req)
{
	for (size_t i = 0; i < req->n_args; i++)
		if (!strcmp(req->args[i].name, "name"))
			return req->args[i].value;
	return NULL;
}

int api_media_upload_begin(struct engine *e, const struct api_request *req,
			   long long content_length, struct media_upload *u,
			   struct api_reply *rep)
{
	uint64_t max = (uint64_t)engine_config(e)->http_upload_max_mb << 20;
	const char *name = query_name(req), *problem;
	char path[PATH_MAX];
	struct stat st;

	memset(u, 0, sizeof(*u));
	memset(rep, 0, sizeof(*rep));
	problem = name ? api_media_name_problem(name) : "give the file name as ?name=";
	if (problem) {
		api_fail(e, req, rep, AIRMIX_DOMAIN_API, API_BAD_QUERY, "", "upload name \"%.200s\": "
			 "%s", name ? name : "", problem);
		return -EINVAL;
	}
	if (content_length < 0) {
		api_fail(e, req, rep, AIRMIX_DOMAIN_API, API_MISSING_FIELD, name,
			 "an upload needs a Content-Length header");
		return -EINVAL;
	}
	if ((uint64_t)content_length > max) {
		api_fail(e, req, rep, AIRMIX_DOMAIN_API, API_BODY_TOO_LARGE, name,
			 "%s: %lld bytes is larger than upload_max_mb (%d MB)", name,
			 content_length, engine_config(e)->http_upload_max_mb);
		return -EFBIG;
	}
	if (media_path(e, name, path, sizeof(path)) == 0 && lstat(path, &st) == 0) {
		api_fail(e, req, rep, AIRMIX_DOMAIN_API, API_ALREADY_EXISTS, name,
			 "%s already exists: delete it first or choose another name", name);
		return -EEXIST;
	}
	if (snprintf(u->tmp, sizeof(u->tmp), "%s/.upload-XXXXXX", media_dir(e)) >=
	    (int)sizeof(u->tmp) || (u->fd = mkostemp(u->tmp, O_CLOEXEC)) < 0) {
		u->tmp[0] = '\0';
		api_fail(e, req, rep, AIRMIX_DOMAIN_API, API_INTERNAL, name,
			 "cannot create a file in the media folder %s: %s", media_dir(e),
			 strerror(errno));
		return -EIO;
	}
	u->fd_open = true;
	fchmod(u->fd, 0640);
	snprintf(u->name, sizeof(u->name), "%s", name);
	u->expected = (uint64_t)content_length;
	return 0;
}

void api_media_upload_write(struct media_upload *u, const void *buf, size_t len)
{
	const char *p = buf;

	if (u->error || !u->fd_open)
		return;
	if (u->received + len > u->expected) {
		u->error = -EFBIG;
		return;
	}
	while (len) {
		ssize_t n = write(u->fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			u->error = n < 0 ? -errno : -EIO;
			return;
		}
		p += n;
		len -= (size_t)n;
		u->received += (uint64_t)n;
	}
}

void api_media_upload_abort(struct media_upload *u)
{
	if (u->fd_open)
		close(u->fd);
	u->fd_open = false;
	if (u->tmp[0])
		unlink(u->tmp);
	u->tmp[0] = '\0';
}

/* Is the temporary file audio libsndfile can read? NULL or what it said. */
static const char *audio_problem(const char *path, char *buf, size_t len)
{
	SF_INFO info = { 0 };
	SNDFILE *sf = sf_open(path, SFM_READ, &info);

	if (!sf) {
		snprintf(buf, len, "%s", sf_strerror(NULL));
		return buf;
	}
	sf_close(sf);
	if (info.channels <= 0 || info.samplerate <= 0) {
		snprintf(buf, len, "no channels or no sample rate");
		return buf;
	}
	return NULL;
}

static void post_upload(struct call *c)
{
	struct media_upload *u = c->req->upload;
	char path[PATH_MAX], why[256];
	const char *problem;

	if (!u || !u->fd_open) {
		api_call_fail(c, AIRMIX_DOMAIN_API, API_MISSING_FIELD,
			      "send the file as the request body");
		return;
	}
	if (u->error || u->received != u->expected) {
		api_call_fail(c, AIRMIX_DOMAIN_API, u->error == -EFBIG ? API_BODY_TOO_LARGE :
			      API_INTERNAL, "upload of %s failed after %llu of %llu bytes: %s",
			      u->name, (unsigned long long)u->received,
			      (unsigned long long)u->expected,
			      u->error ? strerror(-u->error) : "the body ended early");
		return;
	}
	if (fsync(u->fd)) {
		api_call_fail(c, AIRMIX_DOMAIN_API, API_INTERNAL, "upload of %s: fsync: %s",
			      u->name, strerror(errno));
		return;
	}
	close(u->fd);
	u->fd_open = false;
	problem = audio_problem(u->tmp, why, sizeof(why));
	if (problem) {
		api_call_fail(c, AIRMIX_DOMAIN_API, API_NOT_AUDIO, "%s is not audio libsndfile can "
			      "read: %s", u->name, problem);
		return;	/* the server removes the temporary file */
	}
	if (media_path(c->e, u->name, path, sizeof(path)) || link(u->tmp, path)) {
		if (errno == EEXIST)
			api_call_fail(c, AIRMIX_DOMAIN_API, API_ALREADY_EXISTS, "%s already exists",
				      u->name);
		else
			api_call_fail(c, AIRMIX_DOMAIN_API, API_INTERNAL, "cannot store %s: %s",
				      u->name, strerror(errno));
		return;
	}
	unlink(u->tmp);
	u->tmp[0] = '\0';
	sync_dir(media_dir(c->e));
	snprintf(c->rep->location, sizeof(c->rep->location), "/api/v1/media");
	api_reply_json(c->rep, 201, file_json(media_dir(c->e), u->name));
}

const struct api_route api_media_routes[] = {
	{ "/api/v1/media", API_GET, NULL, NULL, get_list, API_ID_TEXT },
	{ "/api/v1/media", API_POST, raw_body, upload_args, post_upload, API_ID_TEXT },
	{ "/api/v1/media/{id}", API_DELETE, NULL, NULL, delete_one, API_ID_TEXT },
};

const size_t api_media_route_count = sizeof(api_media_routes) / sizeof(api_media_routes[0]);
