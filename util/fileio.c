#define _POSIX_C_SOURCE 200809L
#include "util/fileio.h"
#include "util/error.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/banned.h"

int file_read_all(struct buf *out, const char *path, size_t max, struct errbuf *err)
{
    int fd, rc = AMLSEC_ERROR;
    struct stat st;

    memset(&st, 0, sizeof(st));
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return errbuf_set(err, errno == ENOENT ? AMLSEC_ENOTFOUND : AMLSEC_EIO,
                          "cannot open '%s': %s", path, strerror(errno));
    }
    if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
        rc = errbuf_set(err, AMLSEC_EUSAGE, "'%s' is a directory", path);
        goto out;
    }
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && (size_t)st.st_size > max) {
        rc = errbuf_set(err, AMLSEC_EUSAGE, "'%s' is larger than the %zu MiB limit", path,
                        max >> 20);
        goto out;
    }
    /* a regular file is read straight into a buffer of its size (one more
     * byte tells its end); anything else, or a file that grows, in steps */
    if (S_ISREG(st.st_mode) && buf_grow(out, (size_t)st.st_size + 1) < 0) {
        rc = errbuf_set(err, AMLSEC_ENOMEM, "out of memory reading '%s'", path);
        goto out;
    }
    for (;;) {
        ssize_t n;
        /* up to one byte past max (that byte tells the file is too large);
         * a buffer whose own cap stops it first is at the limit too: not
         * "out of memory" (file("/dev/zero") once said so) */
        size_t step = max - out->len + 1 < 65536 ? max - out->len + 1 : 65536;
        if ((out->cap == 0 || out->cap - out->len - 1 == 0) && buf_grow(out, step) < 0) {
            rc = out->len >= max || out->len + step > out->max
                     ? errbuf_set(err, AMLSEC_EUSAGE, "'%s' is larger than the %zu MiB limit", path,
                                  max >> 20)
                     : errbuf_set(err, AMLSEC_ENOMEM, "out of memory reading '%s'", path);
            goto out;
        }
        n = read(fd, out->ptr + out->len, out->cap - out->len - 1);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            rc = errbuf_set(err, AMLSEC_EIO, "cannot read '%s': %s", path, strerror(errno));
            goto out;
        }
        if (n == 0)
            break;
        if (out->len + (size_t)n > max) {
            out->ptr[out->len] = '\0';
            rc = errbuf_set(err, AMLSEC_EUSAGE, "'%s' is larger than the %zu MiB limit", path,
                            max >> 20);
            goto out;
        }
        out->len += (size_t)n;
        out->ptr[out->len] = '\0';
    }
    rc = 0;
out:
    close(fd);
    return rc;
}

static void fault_point(const char *step)
{
    const char *want = getenv(FILEIO_FAULT_ENV);
    if (want && strcmp(want, step) == 0)
        _exit(86);
}

static int fsync_dir_of(const char *path)
{
    char dir[4096];
    const char *slash = strrchr(path, '/');
    int fd, rc;

    if (slash == NULL) {
        dir[0] = '.';
        dir[1] = '\0';
    } else {
        size_t n = (size_t)(slash - path);
        if (n == 0)
            n = 1;
        if (n >= sizeof(dir))
            return -1;
        memcpy(dir, path, n);
        dir[n] = '\0';
    }
    fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    rc = fsync(fd);
    close(fd);
    return rc;
}

int file_atomic_open(struct file_atomic *fa, const char *path, mode_t mode, struct errbuf *err)
{
    fa->fd = -1;
    fa->path = path;
    fa->mode = mode;
    if ((size_t)snprintf(fa->tmp, sizeof(fa->tmp), "%s.tmp.%ld", path, (long)getpid()) >=
        sizeof(fa->tmp))
        return errbuf_set(err, AMLSEC_EUSAGE, "path too long: '%s'", path);
    fa->fd = open(fa->tmp, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, mode);
    if (fa->fd < 0 && errno == EEXIST) {
        /* A leftover from a killed run of this same pid number: ours to remove. */
        unlink(fa->tmp);
        fa->fd = open(fa->tmp, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, mode);
    }
    if (fa->fd < 0)
        return errbuf_set(err, AMLSEC_EIO, "cannot create '%s': %s", fa->tmp, strerror(errno));
    return 0;
}

int file_atomic_pwrite(struct file_atomic *fa, const void *data, size_t len, off_t at,
                       struct errbuf *err)
{
    const char *p = data;
    while (len) {
        ssize_t n = at < 0 ? write(fa->fd, p, len) : pwrite(fa->fd, p, len, at);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return errbuf_set(err, AMLSEC_EIO, "cannot write '%s': %s", fa->tmp, strerror(errno));
        }
        p += n;
        len -= (size_t)n;
        if (at >= 0)
            at += n;
    }
    return 0;
}

int file_atomic_write(struct file_atomic *fa, const void *data, size_t len, struct errbuf *err)
{
    return file_atomic_pwrite(fa, data, len, -1, err);
}

int file_atomic_commit(struct file_atomic *fa, struct errbuf *err)
{
    fault_point("after-tmp");
    if (fsync(fa->fd) < 0) {
        errbuf_set(err, AMLSEC_EIO, "cannot sync '%s': %s", fa->tmp, strerror(errno));
        goto fail;
    }
    fault_point("after-fsync");
    if (fchmod(fa->fd, fa->mode) < 0) {
        errbuf_set(err, AMLSEC_EIO, "cannot chmod '%s': %s", fa->tmp, strerror(errno));
        goto fail;
    }
    close(fa->fd);
    fa->fd = -1;
    if (rename(fa->tmp, fa->path) < 0) {
        errbuf_set(err, AMLSEC_EIO, "cannot replace '%s': %s", fa->path, strerror(errno));
        goto fail;
    }
    fault_point("after-rename");
    if (fsync_dir_of(fa->path) < 0)
        return errbuf_set(err, AMLSEC_EIO, "cannot sync the directory of '%s': %s", fa->path,
                          strerror(errno));
    return 0;
fail:
    file_atomic_abort(fa);
    return AMLSEC_EIO;
}

void file_atomic_abort(struct file_atomic *fa)
{
    if (fa->fd >= 0) {
        close(fa->fd);
        fa->fd = -1;
        unlink(fa->tmp);
    } else if (fa->tmp[0]) {
        unlink(fa->tmp); /* a failed rename leaves the temporary file */
    }
}

int file_write_atomic(const char *path, const void *data, size_t len, mode_t mode,
                      struct errbuf *err)
{
    struct file_atomic fa;
    int rc;
    if ((rc = file_atomic_open(&fa, path, mode, err)) < 0)
        return rc;
    if ((rc = file_atomic_write(&fa, data, len, err)) < 0) {
        file_atomic_abort(&fa);
        return rc;
    }
    return file_atomic_commit(&fa, err);
}

int file_mkdir_parents(const char *path, struct errbuf *err)
{
    char dir[4096];
    const char *slash = strrchr(path, '/');
    size_t n;

    if (slash == NULL || slash == path)
        return 0;
    n = (size_t)(slash - path);
    if (n >= sizeof(dir))
        return errbuf_set(err, AMLSEC_EUSAGE, "path too long: '%s'", path);
    memcpy(dir, path, n);
    dir[n] = '\0';
    for (char *p = dir + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(dir, 0700) < 0 && errno != EEXIST)
            return errbuf_set(err, AMLSEC_EIO, "cannot create '%s': %s", dir, strerror(errno));
        *p = '/';
    }
    if (mkdir(dir, 0700) < 0 && errno != EEXIST)
        return errbuf_set(err, AMLSEC_EIO, "cannot create '%s': %s", dir, strerror(errno));
    return 0;
}

size_t file_atomic_sweep(const char *path)
{
    const char *slash = strrchr(path, '/');
    char dir[4096], prefix[4096];
    size_t n, removed = 0;
    struct dirent *e;
    DIR *d;
    if (slash && (size_t)(slash - path) + 1 >= sizeof(dir))
        return 0;
    if (slash == path)
        snprintf(dir, sizeof(dir), "/");
    else if (slash)
        snprintf(dir, sizeof(dir), "%.*s", (int)(slash - path), path);
    else
        snprintf(dir, sizeof(dir), ".");
    if ((size_t)snprintf(prefix, sizeof(prefix), "%s.tmp.", slash ? slash + 1 : path) >=
            sizeof(prefix) ||
        (d = opendir(dir)) == NULL)
        return 0;
    n = strlen(prefix);
    while ((e = readdir(d)) != NULL) {
        const char *digits;
        char *end;
        long pid;
        if (strncmp(e->d_name, prefix, n) != 0)
            continue;
        digits = e->d_name + n;
        if (*digits < '1' || *digits > '9')
            continue;
        errno = 0;
        pid = strtol(digits, &end, 10);
        if (*end != '\0' || errno != 0 || pid <= 0 || pid > INT_MAX || pid == (long)getpid() ||
            kill((pid_t)pid, 0) == 0 || errno != ESRCH)
            continue;
        if (unlinkat(dirfd(d), e->d_name, 0) == 0)
            removed++;
    }
    closedir(d);
    return removed;
}
