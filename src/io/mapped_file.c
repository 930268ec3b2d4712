/* mapped_file.c - read-only mmap of a whole file. */
#include "io/mapped_file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

bn_status bn_mapped_file_open(bn_mapped_file *f, const char *path) {
    memset(f, 0, sizeof *f);
    snprintf(f->path, sizeof f->path, "%s", path);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return BN_ERROR(BN_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return BN_ERROR(BN_ERR_IO, "%s: cannot stat: %s", path, strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return BN_ERROR(BN_ERR_IO, "%s: not a regular file", path);
    }
    f->size = (size_t)st.st_size;
    if (f->size > 0) {
        void *p = mmap(NULL, f->size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (p == MAP_FAILED) {
            int e = errno;
            close(fd);
            return BN_ERROR(BN_ERR_IO, "%s: cannot mmap %zu bytes: %s", path, f->size, strerror(e));
        }
        f->data = p;
        f->owns_mapping = true;
    }
    close(fd); /* the mapping keeps the file alive */
    return BN_OK;
}

void bn_mapped_file_from_memory(bn_mapped_file *f, const void *data, size_t size,
                                const char *name) {
    memset(f, 0, sizeof *f);
    snprintf(f->path, sizeof f->path, "%s", name);
    f->data = data;
    f->size = size;
}

void bn_mapped_file_adopt_pages(bn_mapped_file *f, void *data, size_t size, const char *name) {
    bn_mapped_file_from_memory(f, data, size, name);
    f->owns_mapping = data != NULL;
    f->anonymous = true;
}

void bn_mapped_file_close(bn_mapped_file *f) {
    if (f->owns_mapping)
        munmap((void *)f->data, f->size);
    memset(f, 0, sizeof *f);
}

void bn_mapped_file_release(const bn_mapped_file *f, const void *p, size_t n) {
    if (!f->anonymous)
        bn_mapped_file_discard(f, p, n);
}

void bn_mapped_file_discard(const bn_mapped_file *f, const void *p, size_t n) {
    if (!f->owns_mapping || n == 0)
        return;
    long page = sysconf(_SC_PAGESIZE);
    uintptr_t ps = page > 0 ? (uintptr_t)page : 4096;
    uintptr_t begin = ((uintptr_t)p + ps - 1) / ps * ps, end = ((uintptr_t)p + n) / ps * ps;
    if (end > begin) /* advice only: a failure leaves the pages resident, nothing worse */
        (void)madvise((void *)begin, end - begin, MADV_DONTNEED);
}
