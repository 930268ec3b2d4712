/* outfile.c - temporary file, rename into place, and the interrupt-cleanup registry. */
#include "io/outfile.h"

#include "base/log.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* ---- the registry of temporary files --------------------------------------------------------
 * A fixed table, so that a signal handler can walk it without locks or allocation. A slot is
 * FREE, being FILLED by the thread that claimed it, or READY (its path may be removed). The
 * path lives in the slot itself, not behind a pointer that could be freed under the handler. */
enum { SLOT_FREE = 0, SLOT_FILLED = 1, SLOT_READY = 2, MAX_TEMPS = 32, TEMP_PATH_MAX = 4096 };

static struct {
    atomic_int state;
    char path[TEMP_PATH_MAX];
} temps[MAX_TEMPS];

static int register_temp(const char *path) {
    if (strlen(path) >= TEMP_PATH_MAX)
        return -1;
    for (int i = 0; i < MAX_TEMPS; i++) {
        int expected = SLOT_FREE;
        if (atomic_compare_exchange_strong(&temps[i].state, &expected, SLOT_FILLED)) {
            strcpy(temps[i].path, path);
            atomic_store(&temps[i].state, SLOT_READY);
            return i;
        }
    }
    return -1; /* more than MAX_TEMPS files at once: this one is only removed on errors */
}

static void unregister_temp(int slot) {
    if (slot >= 0)
        atomic_store(&temps[slot].state, SLOT_FREE);
}

void bn_outfile_remove_temps(void) {
    for (int i = 0; i < MAX_TEMPS; i++)
        if (atomic_load(&temps[i].state) == SLOT_READY)
            unlink(temps[i].path);
}

/* ---- resolving OUT ------------------------------------------------------------------------ */

static const char *node_kind(mode_t m) {
    return S_ISDIR(m)    ? "a directory"
           : S_ISFIFO(m) ? "a FIFO"
           : S_ISCHR(m)  ? "a character device"
           : S_ISBLK(m)  ? "a block device"
           : S_ISSOCK(m) ? "a socket"
                         : "not a regular file";
}

/* dir_of(path) + "/" + rel, malloc'd. */
static char *beside(const char *path, const char *rel) {
    const char *slash = strrchr(path, '/');
    size_t dir = slash == NULL ? 0 : (size_t)(slash - path) + 1, n = strlen(rel);
    char *s = malloc(dir + n + 1);
    if (s != NULL) {
        memcpy(s, path, dir);
        memcpy(s + dir, rel, n + 1);
    }
    return s;
}

/* Follow OUT's symbolic links to the file that would be replaced (or created). *mode is its
 * permission bits, or -1 when it does not exist yet. */
static bn_status resolve(const char *out, char **target, int *mode) {
    char *cur = strdup(out);
    if (cur == NULL)
        return BN_ERROR(BN_ERR_OUT_OF_MEMORY, "%s: resolving the output path", out);
    for (int hops = 0; hops < 40; hops++) {
        struct stat st;
        if (lstat(cur, &st) != 0) {
            if (errno == ENOENT) { /* a new file (its directory is checked on creation) */
                *target = cur;
                *mode = -1;
                return BN_OK;
            }
            bn_status e =
                BN_ERROR(BN_ERR_IO, "%s: cannot look at %s: %s", out, cur, strerror(errno));
            free(cur);
            return e;
        }
        if (S_ISREG(st.st_mode)) {
            *target = cur;
            *mode = (int)(st.st_mode & 07777);
            return BN_OK;
        }
        if (!S_ISLNK(st.st_mode)) {
            bn_status e = BN_ERROR(BN_ERR_INVALID_ARG,
                                   "%s: the output is %s%s%s, not a regular file: refusing to "
                                   "replace it",
                                   out, node_kind(st.st_mode), strcmp(cur, out) ? " via " : "",
                                   strcmp(cur, out) ? cur : "");
            free(cur);
            return e;
        }
        char link[PATH_MAX];
        ssize_t n = readlink(cur, link, sizeof link - 1);
        if (n < 0) {
            bn_status e =
                BN_ERROR(BN_ERR_IO, "%s: cannot read the link %s: %s", out, cur, strerror(errno));
            free(cur);
            return e;
        }
        link[n] = '\0';
        char *next = link[0] == '/' ? strdup(link) : beside(cur, link);
        free(cur);
        if ((cur = next) == NULL)
            return BN_ERROR(BN_ERR_OUT_OF_MEMORY, "%s: resolving the output path", out);
    }
    free(cur);
    return BN_ERROR(BN_ERR_INVALID_ARG, "%s: too many levels of symbolic links", out);
}

/* ---- the temporary file ------------------------------------------------------------------- */

/* "<target>.tmp.<12 letters>", created with O_EXCL and mode 0666 so that the umask applies
 * (mkstemp would make it 0600, and the umask cannot be read without a racy set-and-restore). */
static bn_status create_temp(bn_outfile *f) {
    static const char letters[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    static atomic_uint_fast64_t counter;
    size_t n = strlen(f->path);
    if ((f->tmp = malloc(n + sizeof ".tmp.XXXXXXXXXXXX")) == NULL)
        return BN_ERROR(BN_ERR_OUT_OF_MEMORY, "%s: temporary name", f->path);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t seed = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 30) ^ ((uint64_t)getpid() << 40);
    for (int attempt = 0; attempt < 100; attempt++) {
        uint64_t r = seed + atomic_fetch_add(&counter, 1) * 0x9E3779B97F4A7C15ull;
        memcpy(f->tmp, f->path, n);
        memcpy(f->tmp + n, ".tmp.", 5);
        for (int i = 0; i < 12; i++) {
            r ^= r >> 29;
            r *= 0xBF58476D1CE4E5B9ull;
            f->tmp[n + 5 + i] = letters[(r >> 32) % (sizeof letters - 1)];
        }
        f->tmp[n + 17] = '\0';
        f->fd = open(f->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        if (f->fd >= 0)
            return BN_OK;
        if (errno != EEXIST)
            break;
    }
    return BN_ERROR(BN_ERR_IO, "%s: cannot create the temporary file %s: %s", f->path, f->tmp,
                    strerror(errno));
}

bn_status bn_outfile_open(bn_outfile *f, const char *out) {
    *f = (bn_outfile){.fd = -1, .slot = -1};
    if (out == NULL || out[0] == '\0')
        return BN_ERROR(BN_ERR_INVALID_ARG, "empty output path");
    int mode;
    bn_status st = resolve(out, &f->path, &mode);
    /* No signal between the file's creation and its registration: one would leave the file
     * behind. Blocked signals wait, and then find it registered. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    if (st == BN_OK)
        st = create_temp(f);
    if (st == BN_OK && (f->slot = register_temp(f->tmp)) < 0)
        bn_log(BN_LOG_DEBUG,
               "%s: more than %d outputs at once, or a path of %d bytes or more: "
               "an interrupt will not remove it",
               f->tmp, MAX_TEMPS, TEMP_PATH_MAX);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (st == BN_OK) {
        /* A replaced file keeps its permissions; a new one has what the umask left of 0666. */
        if (mode >= 0 && fchmod(f->fd, (mode_t)mode) != 0)
            bn_log(BN_LOG_DEBUG, "%s: fchmod: %s", f->tmp, strerror(errno));
    }
    if (st != BN_OK) {
        free(f->tmp);
        free(f->path);
        *f = (bn_outfile){.fd = -1, .slot = -1};
    }
    return st;
}

bn_status bn_outfile_write(bn_outfile *f, const void *data, size_t n) {
    const uint8_t *p = data;
    while (n > 0) {
        size_t chunk = n < ((size_t)1 << 30) ? n : ((size_t)1 << 30);
        ssize_t k = write(f->fd, p, chunk);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return BN_ERROR(BN_ERR_IO, "%s: write failed: %s", f->tmp,
                            k < 0 ? strerror(errno) : "no progress");
        p += k;
        n -= (size_t)k;
    }
    return BN_OK;
}

/* After the rename, sync the directory so the new name survives a crash. Failing that is only
 * logged: the file itself is complete and in place. */
static void sync_dir(const char *path) {
    const char *slash = strrchr(path, '/');
    char *dir = slash == NULL   ? strdup(".")
                : slash == path ? strdup("/")
                                : strndup(path, (size_t)(slash - path));
    int fd = dir != NULL ? open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;
    if (fd < 0 || fsync(fd) != 0)
        bn_log(BN_LOG_WARN, "%s: cannot sync its directory: %s", path, strerror(errno));
    if (fd >= 0)
        close(fd);
    free(dir);
}

static void release(bn_outfile *f) {
    unregister_temp(f->slot);
    free(f->tmp);
    free(f->path);
    *f = (bn_outfile){.fd = -1, .slot = -1};
}

bn_status bn_outfile_commit(bn_outfile *f) {
    bn_status st = BN_OK;
    if (f->fd >= 0) {
        if (fsync(f->fd) != 0)
            st = BN_ERROR(BN_ERR_IO, "%s: cannot sync: %s", f->tmp, strerror(errno));
        if (close(f->fd) != 0 && st == BN_OK)
            st = BN_ERROR(BN_ERR_IO, "%s: cannot close: %s", f->tmp, strerror(errno));
        f->fd = -1;
    }
    if (st == BN_OK && rename(f->tmp, f->path) != 0)
        st = BN_ERROR(BN_ERR_IO, "%s: cannot rename %s into place: %s", f->path, f->tmp,
                      strerror(errno));
    if (st != BN_OK) {
        bn_outfile_discard(f);
        return st;
    }
    sync_dir(f->path);
    release(f);
    return BN_OK;
}

void bn_outfile_discard(bn_outfile *f) {
    if (f->fd >= 0)
        close(f->fd);
    if (f->tmp != NULL)
        unlink(f->tmp);
    release(f);
}

bn_status bn_outfile_check_not_input(const char *out, const char *input, const char *what) {
    struct stat a, b;
    if (stat(out, &a) != 0 || stat(input, &b) != 0)
        return BN_OK;
    if (a.st_dev == b.st_dev && a.st_ino == b.st_ino)
        return BN_ERROR(BN_ERR_INVALID_ARG,
                        "%s: the output is %s (%s): writing it would destroy what is being read; "
                        "choose another output file",
                        out, what, input);
    return BN_OK;
}
