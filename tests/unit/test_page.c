/* test_page.c - the admin page's file lookup (web-admin/page.c): which URL
 * paths are served from the page's folder, with which content type, and
 * which never reach the file system (dot segments, hidden names, empty
 * segments, symlinks, folders, names past the root).
 *
 * Threads: the test's main thread only.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "web-admin/page.h"

static char root[] = "/tmp/airmix-test-page.XXXXXX";

static void put(const char *rel, const char *text)
{
	char p[PATH_MAX];
	FILE *f;

	snprintf(p, sizeof(p), "%s/%s", root, rel);
	f = fopen(p, "w");
	if (f) {
		fputs(text, f);
		fclose(f);
	}
}

/* page_reply's answer for path: 0 with the content type and length, or the
 * error; the reply's fd is closed. */
static int ask(const char *path, const char **type, uint64_t *len)
{
	struct api_reply rep;
	int rc;

	memset(&rep, 0, sizeof(rep));
	rc = page_reply(root, path, &rep);
	if (rc == 0) {
		*type = rep.content_type;
		*len = rep.file_length;
		api_reply_free(&rep);
	}
	return rc;
}

static void served(const char *path, const char *want_type, uint64_t want_len)
{
	const char *type = NULL;
	uint64_t len = 0;
	int rc = ask(path, &type, &len);

	CHECK(rc == 0 && type && !strcmp(type, want_type) && len == want_len,
	      "%s is served as %s, %llu bytes (rc %d, %s, %llu)", path, want_type,
	      (unsigned long long)want_len, rc, type ? type : "-", (unsigned long long)len);
}

static void refused(const char *path)
{
	const char *type;
	uint64_t len;

	CHECK(ask(path, &type, &len) == -ENOENT, "%s is not served", path);
}

int main(void)
{
	char p[PATH_MAX], outside[PATH_MAX], up[PATH_MAX];
	struct api_reply rep;
	FILE *f;

	if (!mkdtemp(root)) {
		perror("mkdtemp");
		return 1;
	}
	snprintf(p, sizeof(p), "%s/js", root);
	mkdir(p, 0755);
	snprintf(p, sizeof(p), "%s/.git", root);
	mkdir(p, 0755);
	put("index.html", "<!doctype html>\n");
	put("app.css", "body{}");
	put("js/app.js", "export {};\n");
	put("data.bin", "xyz");
	put(".env", "secret");
	put(".git/config", "secret");
	snprintf(outside, sizeof(outside), "%s.outside", root);	/* beside the folder */
	f = fopen(outside, "w");
	if (f) {
		fputs("outside", f);
		fclose(f);
	}
	snprintf(up, sizeof(up), "/..%s", strrchr(outside, '/'));
	snprintf(p, sizeof(p), "%s/link.js", root);
	CHECK(symlink(outside, p) == 0, "a symlink to a file outside the folder is made");

	served("/", "text/html; charset=utf-8", 16);
	served("/index.html", "text/html; charset=utf-8", 16);
	served("/app.css", "text/css; charset=utf-8", 6);
	served("/js/app.js", "text/javascript; charset=utf-8", 11);
	served("/data.bin", "application/octet-stream", 3);

	refused("/missing.js");
	refused("/js");			/* a folder */
	refused("/js/");
	refused("//index.html");
	refused("/js//app.js");
	refused("/./index.html");
	refused("/js/../index.html");
	refused("/..");
	refused(up);			/* an existing file beside the folder */
	refused("/.env");
	refused("/.git/config");
	refused("/link.js");		/* O_NOFOLLOW */
	refused("index.html");		/* not absolute */
	refused("");
	{
		char longp[PATH_MAX + 64];

		memset(longp, 'a', sizeof(longp) - 1);
		longp[0] = '/';
		longp[sizeof(longp) - 1] = '\0';
		refused(longp);
	}
	memset(&rep, 0, sizeof(rep));
	CHECK(page_reply("", "/index.html", &rep) == -ENOENT && !rep.has_file,
	      "nothing is served without a folder");
	CHECK(page_header_count >= 3 && strstr(page_headers[0].value, "script-src 'self'"),
	      "the page's headers carry a CSP");

	unlink(p);
	unlink(outside);
	snprintf(p, sizeof(p), "rm -rf '%s'", root);
	if (system(p) != 0)
		fprintf(stderr, "could not remove %s\n", root);
	return CHECK_DONE();
}
