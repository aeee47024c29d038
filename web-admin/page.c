/* page.c - the admin page's static files: finding the folder they live in
 * and answering GET requests for them as file replies (the server streams
 * the open fd in chunks, as it does for a take's file).
 *
 * The URL path is checked segment by segment before anything is opened:
 * only plain names (no ".", "..", hidden names or empty segments), joined
 * to the root, opened with O_NOFOLLOW and kept only when fstat says it is a
 * regular file. A symlinked folder inside the root is still followed (the
 * root is ours; the URL cannot name anything outside it). A guest's link,
 * /guest/{room} (one plain segment after /guest/), is the guest page,
 * guest.html, which reads the room from its own URL.
 *
 * Threads: page_find_root on the control thread; page_reply on the lws
 * service thread.
 */
#include "web-admin/page.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const struct {
	const char *ext;
	const char *type;
} types[] = {
	{ ".html", "text/html; charset=utf-8" },
	{ ".css", "text/css; charset=utf-8" },
	{ ".js", "text/javascript; charset=utf-8" },
	{ ".json", "application/json" },
	{ ".svg", "image/svg+xml" },
	{ ".png", "image/png" },
	{ ".ico", "image/x-icon" },
	{ ".woff2", "font/woff2" },
	{ ".txt", "text/plain; charset=utf-8" },
};

/* Inline style attributes are allowed (the page sets a few); scripts only
 * from the page's own files. */
const struct page_header page_headers[] = {
	{ "content-security-policy:", "default-src 'self'; script-src 'self'; "
	  "style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; connect-src 'self'; "
	  "frame-ancestors 'none'; base-uri 'none'; form-action 'self'" },
	{ "x-content-type-options:", "nosniff" },
	{ "x-frame-options:", "DENY" },
	{ "referrer-policy:", "no-referrer" },
};
const size_t page_header_count = sizeof(page_headers) / sizeof(page_headers[0]);

static bool has_index(const char *dir)
{
	char p[PATH_MAX];
	struct stat st;

	if (snprintf(p, sizeof(p), "%s/index.html", dir) >= (int)sizeof(p))
		return false;
	return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

int page_find_root(char *root, size_t len)
{
	char exe[PATH_MAX], cand[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	char *slash;

	root[0] = '\0';
	if (n > 0) {
		exe[n] = '\0';
		slash = strrchr(exe, '/');
		if (slash) {
			*slash = '\0';	/* the build folder: its parent is the tree */
			if (snprintf(cand, sizeof(cand), "%s/../web-admin/www", exe) <
				    (int)sizeof(cand) && has_index(cand) &&
			    realpath(cand, exe)) {
				snprintf(root, len, "%s", exe);
				return 0;
			}
		}
	}
	if (has_index(AIRMIX_PREFIX "/share/airmix/web")) {
		snprintf(root, len, "%s", AIRMIX_PREFIX "/share/airmix/web");
		return 0;
	}
	return -ENOENT;
}

/* Every segment of path (which starts with '/') a plain name. */
static bool path_safe(const char *path)
{
	const char *seg = path;

	if (path[0] != '/')
		return false;
	while (*seg == '/') {
		size_t n = strcspn(seg + 1, "/");

		if (n == 0 || seg[1] == '.')
			return false;	/* "//", ".", "..", ".hidden" */
		seg += 1 + n;
	}
	return *seg == '\0';
}

/* "/guest/<one plain segment>": a guest's link. */
static bool is_guest_link(const char *path)
{
	return !strncmp(path, "/guest/", 7) && path_safe(path) && !strchr(path + 7, '/');
}

static const char *type_of(const char *path)
{
	const char *dot = strrchr(path, '.');
	size_t i;

	for (i = 0; dot && i < sizeof(types) / sizeof(types[0]); i++)
		if (!strcmp(dot, types[i].ext))
			return types[i].type;
	return "application/octet-stream";
}

int page_reply(const char *root, const char *path, struct api_reply *rep)
{
	char full[PATH_MAX];
	struct stat st;
	int fd;

	if (!strcmp(path, "/"))
		path = "/index.html";
	else if (is_guest_link(path))
		path = "/guest.html";
	if (!root[0] || !path_safe(path) ||
	    snprintf(full, sizeof(full), "%s%s", root, path) >= (int)sizeof(full))
		return -ENOENT;
	fd = open(full, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return -ENOENT;
	if (fstat(fd, &st) || !S_ISREG(st.st_mode)) {
		close(fd);
		return -ENOENT;
	}
	rep->status = 200;
	rep->content_type = type_of(path);
	rep->has_file = true;
	rep->file_fd = fd;
	rep->file_offset = 0;
	rep->file_length = (uint64_t)st.st_size;
	return 0;
}
