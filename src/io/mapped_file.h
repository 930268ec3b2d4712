/*
 * mapped_file.h - a whole file mapped read-only into memory.
 *
 * Model files are read through mmap so that weights are paged in on demand and shared between
 * processes. The size is taken once at open; every reader checks offsets against it before
 * touching the mapping (reading past the end of a mapped file raises SIGBUS, not an error).
 */
#ifndef BN_IO_MAPPED_FILE_H
#define BN_IO_MAPPED_FILE_H

#include "base/status.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct bn_mapped_file {
    const uint8_t *data; /* NULL for an empty file */
    size_t size;
    bool owns_mapping; /* false for wrapped memory; true for a file mapping or adopted pages */
    bool anonymous;    /* adopted pages: the only copy of the bytes, nothing to read them back */
    char path[1024];
} bn_mapped_file;

/* Map path read-only. BN_ERR_IO naming the path and errno's text on failure. */
bn_status bn_mapped_file_open(bn_mapped_file *f, const char *path);

/* Wrap bytes already in memory (tests, fuzzers): nothing is unmapped on close. */
void bn_mapped_file_from_memory(bn_mapped_file *f, const void *data, size_t size, const char *name);

/* Take over anonymous pages from bn_pages_alloc (a file built in memory): closing unmaps them,
 * and bn_mapped_file_release gives parts back to the system early. */
void bn_mapped_file_adopt_pages(bn_mapped_file *f, void *data, size_t size, const char *name);

void bn_mapped_file_close(bn_mapped_file *f);

/* Tell the kernel the pages wholly inside [p, p + n) of f are not needed for now (rows read
 * once, a header already parsed): they leave this process's resident set and are read again
 * from the file if touched. Wrapped memory and adopted pages, which have no file to read them
 * back from, are left alone. */
void bn_mapped_file_release(const bn_mapped_file *f, const void *p, size_t n);

/* The same for bytes that will never be read again (a tensor copied into another layout):
 * adopted pages are freed too. */
void bn_mapped_file_discard(const bn_mapped_file *f, const void *p, size_t n);

#endif /* BN_IO_MAPPED_FILE_H */
