/* File input and output: read-only memory maps, whole-file reads, and atomic writes.
 *
 * Every file ilr writes goes through ilr_atomic_*: the bytes go to a temporary file beside the target,
 * which is flushed, fsync'ed and renamed over the target (and the directory fsync'ed), so a reader sees
 * the old file or the new one, never a torn one, whenever the process dies. */
#ifndef ILR_IO_H
#define ILR_IO_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef struct {
    const uint8_t *data; /* NULL for an empty file */
    size_t size;
} ilr_mapped_file;

/* Maps path read-only.  Errors name the path and the system's reason: ILR_ENOTFOUND when the path does not
 * exist (ENOENT), ILR_EIO for every other refusal (permissions, a directory, mmap failing).  The same holds
 * for ilr_file_read_all.  An empty file gives data NULL and size 0. */
int ilr_file_map(const char *path, ilr_mapped_file *out);
void ilr_file_unmap(ilr_mapped_file *file);

/* Reads a whole file into a malloc'ed buffer with a terminating NUL (not counted in *size). */
int ilr_file_read_all(const char *path, char **data, size_t *size);

int ilr_file_exists(const char *path);
int ilr_dir_exists(const char *path);
/* Creates path and any missing parents (like mkdir -p). */
int ilr_mkdir_p(const char *path);
/* Whether two paths name the same file or directory (both resolved when they exist; else compared as text
 * without trailing slashes). */
int ilr_same_path(const char *a, const char *b);
/* Joins dir and name with one '/' into out (capacity cap); ILR_EINVAL if it does not fit. */
int ilr_path_join(char *out, size_t cap, const char *dir, const char *name);

/* The path of a file that ships with ilr (data/..., prompts/..., configs/...), given relative to the project
 * root: $ILR_HOME/rel when ILR_HOME is set, else the first of the executable's directory and its ancestors
 * (up to 3 levels: build/release/ilr) that holds rel, else rel itself relative to the working directory.
 * ILR_ENOTFOUND, naming every place looked at, when none holds it. */
int ilr_resource_path(char *out, size_t cap, const char *rel);

typedef struct {
    FILE *fp;
    char *target;   /* final path */
    char *tmp_path; /* the temporary file beside it */
    int failed;     /* a write failed; commit will refuse */
} ilr_atomic_file;

/* Opens a temporary file beside path for writing. */
int ilr_atomic_open(ilr_atomic_file *f, const char *path);
int ilr_atomic_write(ilr_atomic_file *f, const void *data, size_t size);
/* Flushes, fsyncs, renames over the target and fsyncs the directory.  On any failure the target is left
 * untouched and the temporary file removed.  Always releases f. */
int ilr_atomic_commit(ilr_atomic_file *f);
/* Drops the temporary file; the target is left untouched.  Safe on an already released f. */
void ilr_atomic_abort(ilr_atomic_file *f);
/* The whole cycle for a buffer in memory. */
int ilr_file_write_atomic(const char *path, const void *data, size_t size);

#endif
