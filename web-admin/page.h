/* page.h - the admin page's static files (web-admin/www/ in the source tree,
 * PREFIX/share/airmix/web/ once installed), served at / by the HTTP server.
 *
 * Threads: page_find_root on the control thread at start-up; page_reply on
 * the lws service thread.
 */
#ifndef AIRMIX_WEB_PAGE_H
#define AIRMIX_WEB_PAGE_H

#include <stddef.h>

#include "web-admin/api.h"

/* The folder the page is served from: web-admin/www beside the build folder
 * of the running binary (a build in the source tree), else the installed
 * PREFIX/share/airmix/web. 0, or -ENOENT when neither holds index.html
 * (root is then ""). */
int page_find_root(char *root, size_t len);

/* The headers every file of the page is served with ("name:" and value):
 * a Content-Security-Policy that lets the page load only its own scripts
 * and talk only to its own server (no inline scripts, no framing),
 * nosniff and no referrer. */
struct page_header {
	const char *name;
	const char *value;
};
extern const struct page_header page_headers[];
extern const size_t page_header_count;

/* Fills rep with a file reply for the URL path ("/" is "/index.html"):
 * 0, or -ENOENT when there is no such regular file under root. Paths with
 * "." or ".." segments, hidden names or empty segments are never opened. */
int page_reply(const char *root, const char *path, struct api_reply *rep);

#endif
