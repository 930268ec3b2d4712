/*
 * outfile.h - how the library writes a file (GGUF, safetensors, .npy) without ever destroying
 * what it should not:
 *
 *   - The bytes go to a temporary file beside the target, which replaces the target by rename
 *     only once it is complete and synced: readers never see half a file, and a failed write
 *     (a full disk), an error or an interrupt leaves the old file as it was.
 *   - OUT may be a symbolic link: the file it points to is replaced (written through the link,
 *     as a shell's `>` would) and OUT stays a link. Renaming onto the link itself would have
 *     replaced the link with a regular file.
 *   - Only regular files are replaced. A directory, FIFO, socket or device named as OUT is
 *     refused: a rename would replace the node itself (as root, /dev/full became a file).
 *   - A new file gets the permissions open(2) gives 0666 under the process's umask; a file
 *     that is replaced keeps its permission bits.
 *   - While a temporary file exists its name is registered, so that a SIGINT/SIGTERM handler
 *     can remove it with bn_outfile_remove_temps() (async-signal-safe) before the process dies.
 *
 * The library installs no signal handlers: the program does (the CLI does, in main.c).
 */
#ifndef BN_IO_OUTFILE_H
#define BN_IO_OUTFILE_H

#include "base/status.h"

#include <stdbool.h>
#include <stddef.h>

typedef struct bn_outfile {
    char *path; /* the file that will be replaced: OUT with its symbolic links followed */
    char *tmp;  /* the temporary file beside it */
    int fd;     /* open on tmp for writing; -1 once closed */
    int slot;   /* its entry in the interrupt-cleanup registry, -1 when not registered */
} bn_outfile;

/* Resolve OUT and create the temporary file. BN_ERR_INVALID_ARG for an OUT that is not (or does
 * not lead to) a regular file or a new name, BN_ERR_IO when the temporary file cannot be made;
 * both name the path. On failure nothing is left behind and *f needs no discard. */
bn_status bn_outfile_open(bn_outfile *f, const char *out);

/* Write all n bytes at the current position (retrying short writes and EINTR). */
bn_status bn_outfile_write(bn_outfile *f, const void *data, size_t n);

/* Sync and close the temporary file (unless the caller already closed f->fd and set it to -1,
 * as a stdio stream over it does), rename it over the target and sync the directory. Frees f;
 * on failure the temporary file is removed and the target is untouched. */
bn_status bn_outfile_commit(bn_outfile *f);

/* Close and remove the temporary file; the target is untouched. Frees f. Safe on a zeroed or
 * already finished bn_outfile. */
void bn_outfile_discard(bn_outfile *f);

/* BN_ERR_INVALID_ARG when writing OUT would replace the file `input` (both resolved through
 * symbolic links and hard links: the same device and inode), naming both; BN_OK when they
 * differ or either does not exist. what is how the message calls the input ("the input
 * model"). Writers check their inputs with it: a rename over a mapped input succeeds, so
 * nothing else would stop `convert DIR DIR/model.safetensors` from replacing its own source. */
bn_status bn_outfile_check_not_input(const char *out, const char *input, const char *what);

/* Remove every registered temporary file. Only async-signal-safe calls: for signal handlers. */
void bn_outfile_remove_temps(void);

#endif /* BN_IO_OUTFILE_H */
