/* Memory maps, whole-file reads, directories and atomic writes (see include/ilr/io.h). */
#include "ilr/io.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ilr/error.h"

/* ENOENT is "not found"; every other refusal by the system is an I/O error. */
static int open_error(const char *path, int err) {
    return ILR_FAIL(err == ENOENT ? ILR_ENOTFOUND : ILR_EIO, "%s: cannot open: %s", path, strerror(err));
}

/* Opens path for reading and checks that it is a regular file; returns the fd or a negative ILR_E*. */
static int open_regular(const char *path, struct stat *st) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return open_error(path, errno);
    if (fstat(fd, st) != 0) {
        int err = errno;
        close(fd);
        return ILR_FAIL(ILR_EIO, "%s: cannot stat: %s", path, strerror(err));
    }
    if (!S_ISREG(st->st_mode)) {
        close(fd);
        return ILR_FAIL(ILR_EIO, "%s: cannot read: %s", path,
                        S_ISDIR(st->st_mode) ? "is a directory" : "not a regular file");
    }
    return fd;
}

int ilr_file_map(const char *path, ilr_mapped_file *out) {
    out->data = NULL;
    out->size = 0;
    struct stat st;
    int fd = open_regular(path, &st);
    if (fd < 0) return fd;
    if (st.st_size == 0) { /* mmap refuses length 0 */
        close(fd);
        return 0;
    }
    void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    int err = errno;
    close(fd);
    if (p == MAP_FAILED) return ILR_FAIL(ILR_EIO, "%s: cannot mmap: %s", path, strerror(err));
    out->data = p;
    out->size = (size_t)st.st_size;
    return 0;
}

void ilr_file_unmap(ilr_mapped_file *file) {
    if (file->data) munmap((void *)file->data, file->size);
    file->data = NULL;
    file->size = 0;
}

/* Reads until EOF rather than trusting st_size, which is 0 for /proc files and may change under us. */
static int read_fd(int fd, const char *path, size_t hint, char **data, size_t *size) {
    size_t cap = hint + 1 > 4096 ? hint + 1 : 4096, len = 0;
    char *buf = malloc(cap);
    for (;;) {
        if (!buf) return ILR_FAIL(ILR_ENOMEM, "%s: out of memory reading %zu bytes", path, cap);
        if (len + 1 == cap) {
            char *grown = realloc(buf, cap * 2);
            if (!grown) free(buf);
            buf = grown;
            cap *= 2;
            continue;
        }
        ssize_t n = read(fd, buf + len, cap - 1 - len);
        if (n == 0) break;
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            int err = errno;
            free(buf);
            return ILR_FAIL(ILR_EIO, "%s: cannot read: %s", path, strerror(err));
        }
        len += (size_t)n;
    }
    buf[len] = 0;
    *data = buf;
    *size = len;
    return 0;
}

int ilr_file_read_all(const char *path, char **data, size_t *size) {
    *data = NULL;
    *size = 0;
    struct stat st;
    int fd = open_regular(path, &st);
    if (fd < 0) return fd;
    int rc = read_fd(fd, path, (size_t)st.st_size, data, size);
    close(fd);
    return rc;
}

int ilr_file_exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

int ilr_dir_exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* Creates one directory; an existing directory is fine. */
static int mkdir_one(const char *full, const char *prefix) {
    if (mkdir(prefix, 0755) == 0) return 0;
    int err = errno;
    if (err == EEXIST && ilr_dir_exists(prefix)) return 0;
    if (err == EEXIST)
        return ILR_FAIL(ILR_EIO, "%s: cannot create directory: '%s' is not a directory", full, prefix);
    return ILR_FAIL(ILR_EIO, "%s: cannot create directory '%s': %s", full, prefix, strerror(err));
}

int ilr_mkdir_p(const char *path) {
    if (!path || !path[0]) return ILR_FAIL(ILR_EINVAL, "mkdir: empty path");
    char *copy = strdup(path);
    if (!copy) return ILR_FAIL(ILR_ENOMEM, "%s: out of memory", path);
    int rc = 0;
    for (char *p = copy + 1; *p && rc == 0; p++) {
        if (*p != '/' || p[-1] == '/') continue;
        *p = 0;
        rc = mkdir_one(path, copy);
        *p = '/';
    }
    if (rc == 0) rc = mkdir_one(path, copy);
    free(copy);
    return rc;
}

int ilr_resource_path(char *out, size_t cap, const char *rel) {
    char tried[2048] = "", dir[PATH_MAX];
    const char *home = getenv("ILR_HOME");
    if (home && *home) {
        if (ilr_path_join(out, cap, home, rel)) return ilr_last_error_code();
        if (access(out, F_OK) == 0) return 0;
        return ILR_FAIL(ILR_ENOTFOUND, "%s: not found (ILR_HOME is set to '%s')", out, home);
    }
    ssize_t n = readlink("/proc/self/exe", dir, sizeof dir - 1);
    for (int level = 0; n > 0 && level <= 3; level++) {
        dir[n] = 0;
        char *slash = strrchr(dir, '/');
        if (!slash) break;
        *slash = 0;
        n = slash - dir;
        if (n == 0) break;
        if (ilr_path_join(out, cap, dir, rel)) return ilr_last_error_code();
        if (access(out, F_OK) == 0) return 0;
        size_t k = strlen(tried);
        snprintf(tried + k, sizeof tried - k, "%s%s", k ? ", " : "", out);
    }
    if (strlen(rel) + 1 > cap) return ILR_FAIL(ILR_EINVAL, "path too long: '%s'", rel);
    snprintf(out, cap, "%s", rel);
    if (access(out, F_OK) == 0) return 0;
    return ILR_FAIL(ILR_ENOTFOUND, "%s: not found beside the ilr executable (%s) nor in the working directory; "
                    "set ILR_HOME to the ilr source tree", rel, tried);
}

int ilr_path_join(char *out, size_t cap, const char *dir, const char *name) {
    size_t dlen = strlen(dir);
    while (dlen > 1 && dir[dlen - 1] == '/') dlen--;
    while (dlen && name[0] == '/') name++;
    const char *sep = dlen == 0 || dir[dlen - 1] == '/' ? "" : "/";
    size_t need = dlen + strlen(sep) + strlen(name) + 1;
    if (need > cap) {
        if (cap) out[0] = 0;
        return ILR_FAIL(ILR_EINVAL, "path too long: '%s' + '%s' needs %zu bytes, have %zu", dir, name, need,
                        cap);
    }
    memcpy(out, dir, dlen);
    snprintf(out + dlen, cap - dlen, "%s%s", sep, name);
    return 0;
}

/* ---- atomic writes ---- */

static void atomic_release(ilr_atomic_file *f) {
    free(f->target);
    free(f->tmp_path);
    f->fp = NULL;
    f->target = NULL;
    f->tmp_path = NULL;
    f->failed = 0;
}

int ilr_atomic_open(ilr_atomic_file *f, const char *path) {
    memset(f, 0, sizeof *f);
    size_t len = strlen(path);
    f->target = strdup(path);
    f->tmp_path = malloc(len + sizeof ".tmp.XXXXXX");
    if (!f->target || !f->tmp_path) {
        atomic_release(f);
        return ILR_FAIL(ILR_ENOMEM, "%s: out of memory", path);
    }
    snprintf(f->tmp_path, len + sizeof ".tmp.XXXXXX", "%s.tmp.XXXXXX", path);
    int fd = mkostemp(f->tmp_path, O_CLOEXEC);
    if (fd < 0) {
        int err = errno;
        atomic_release(f);
        return ILR_FAIL(ILR_EIO, "%s: cannot create a temporary file beside it: %s", path, strerror(err));
    }
    if (fchmod(fd, 0644) != 0 || !(f->fp = fdopen(fd, "wb"))) {
        int err = errno;
        close(fd);
        ilr_atomic_abort(f);
        return ILR_FAIL(ILR_EIO, "%s: cannot open a temporary file beside it: %s", path, strerror(err));
    }
    return 0;
}

/* failed keeps the errno of the first failed write so that commit can say why it refuses. */
int ilr_atomic_write(ilr_atomic_file *f, const void *data, size_t size) {
    if (!f->fp) return ILR_FAIL(ILR_EINVAL, "atomic write: the file is not open");
    if (f->failed)
        return ILR_FAIL(ILR_EIO, "%s: an earlier write failed: %s", f->target, strerror(f->failed));
    if (size == 0 || fwrite(data, 1, size, f->fp) == size) return 0;
    f->failed = errno ? errno : EIO;
    return ILR_FAIL(ILR_EIO, "%s: cannot write %zu bytes to '%s': %s", f->target, size, f->tmp_path,
                    strerror(f->failed));
}

/* The directory entry of the rename is durable only once the directory itself is synced. */
static int fsync_parent(const char *path) {
    char *dir = strdup(path);
    if (!dir) return ENOMEM;
    char *slash = strrchr(dir, '/');
    if (slash == dir) slash[1] = 0;
    else if (slash) *slash = 0;
    int fd = open(slash ? dir : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int err = fd < 0 ? errno : 0;
    if (fd >= 0 && fsync(fd) != 0 && errno != EINVAL) err = errno; /* EINVAL: fs cannot sync dirs */
    if (fd >= 0) close(fd);
    free(dir);
    return err;
}

/* Flushes, syncs and closes the temporary file (f->fp becomes NULL); returns the failed step or NULL,
 * with the system's errno in *err. */
static const char *atomic_finish_tmp(ilr_atomic_file *f, int *err) {
    const char *step = NULL;
    *err = f->failed;
    if (*err) {
        step = "an earlier write failed";
    } else if (fflush(f->fp) != 0) {
        step = "cannot flush";
    } else if (fsync(fileno(f->fp)) != 0) {
        step = "cannot fsync";
    }
    if (step && !*err) *err = errno;
    int close_failed = fclose(f->fp) != 0;
    f->fp = NULL;
    if (!step && close_failed) {
        step = "cannot close";
        *err = errno;
    }
    return step;
}

int ilr_atomic_commit(ilr_atomic_file *f) {
    if (!f->fp) return ILR_FAIL(ILR_EINVAL, "atomic commit: the file is not open");
    int err;
    const char *step = atomic_finish_tmp(f, &err);
    if (!step && rename(f->tmp_path, f->target) != 0) {
        step = "cannot rename the temporary file over it";
        err = errno;
    }
    if (step) {
        int rc = ILR_FAIL(ILR_EIO, "%s: %s: %s", f->target, step, strerror(err));
        ilr_atomic_abort(f);
        return rc;
    }
    /* Past the rename the new file is in place; only its durability can still fail. */
    err = fsync_parent(f->target);
    int rc = 0;
    if (err)
        rc = ILR_FAIL(ILR_EIO, "%s: written, but cannot fsync its directory: %s", f->target, strerror(err));
    atomic_release(f);
    return rc;
}

void ilr_atomic_abort(ilr_atomic_file *f) {
    if (f->fp) fclose(f->fp);
    if (f->tmp_path) unlink(f->tmp_path);
    atomic_release(f);
}

int ilr_file_write_atomic(const char *path, const void *data, size_t size) {
    ilr_atomic_file f;
    int rc = ilr_atomic_open(&f, path);
    if (rc) return rc;
    rc = ilr_atomic_write(&f, data, size);
    if (rc) {
        ilr_atomic_abort(&f);
        return rc;
    }
    return ilr_atomic_commit(&f);
}

/* The text of a path without its trailing slashes (a root "/" stays). */
static size_t trimmed_len(const char *p) {
    size_t n = strlen(p);
    while (n > 1 && p[n - 1] == '/') n--;
    return n;
}

int ilr_same_path(const char *a, const char *b) {
    char *ra = realpath(a, NULL), *rb = realpath(b, NULL);
    int same = ra && rb ? strcmp(ra, rb) == 0 : trimmed_len(a) == trimmed_len(b) && !strncmp(a, b, trimmed_len(a));
    free(ra);
    free(rb);
    return same;
}
