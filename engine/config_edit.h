/* config_edit.h - changing keys in a config file on disk, atomically.
 *
 * Used by the settings API (PUT /api/v1/config) and `airmixctl passwd`. The
 * file keeps its comments and layout: a key's line is replaced, a missing
 * key is added at the end of its section (a missing section at the end of
 * the file). The new text is checked with config_load() and each key read
 * back before it replaces the file; then: temporary file in the same folder,
 * fsync, the old file kept as PATH.bak (one backup), rename, fsync of the
 * folder.
 *
 * Threads: any non-RT thread; nothing global.
 */
#ifndef AIRMIX_CONFIG_EDIT_H
#define AIRMIX_CONFIG_EDIT_H

#include <stddef.h>

struct config_edit {
	const char *section;
	const char *key;
	const char *value;	/* as config_set() takes it */
};

/* 0, or -errno with err saying what went wrong (the file is then as it
 * was). A missing file is created (mode 0600). */
int config_file_set(const char *path, const struct config_edit *edits, size_t n, char *err,
		    size_t errlen);

#endif
