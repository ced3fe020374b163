#define _POSIX_C_SOURCE 200809L
#include "util/fileio.h"
#include "util/error.h"

#include <errno.h>
#include <fcntl.h>
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

int file_write_atomic(const char *path, const void *data, size_t len, mode_t mode,
                      struct errbuf *err)
{
    char tmp[4096];
    const char *p = data;
    size_t left = len;
    int fd, rc = AMLSEC_EIO;

    if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid()) >= sizeof(tmp))
        return errbuf_set(err, AMLSEC_EUSAGE, "path too long: '%s'", path);
    fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
    if (fd < 0 && errno == EEXIST) {
        /* A leftover from a killed run of this same pid number: ours to remove. */
        unlink(tmp);
        fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
    }
    if (fd < 0)
        return errbuf_set(err, AMLSEC_EIO, "cannot create '%s': %s", tmp, strerror(errno));
    while (left) {
        ssize_t n = write(fd, p, left);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            errbuf_set(err, AMLSEC_EIO, "cannot write '%s': %s", tmp, strerror(errno));
            goto fail;
        }
        p += n;
        left -= (size_t)n;
    }
    fault_point("after-tmp");
    if (fsync(fd) < 0) {
        errbuf_set(err, AMLSEC_EIO, "cannot sync '%s': %s", tmp, strerror(errno));
        goto fail;
    }
    fault_point("after-fsync");
    if (fchmod(fd, mode) < 0) {
        errbuf_set(err, AMLSEC_EIO, "cannot chmod '%s': %s", tmp, strerror(errno));
        goto fail;
    }
    close(fd);
    fd = -1;
    if (rename(tmp, path) < 0) {
        errbuf_set(err, AMLSEC_EIO, "cannot replace '%s': %s", path, strerror(errno));
        goto fail;
    }
    fault_point("after-rename");
    if (fsync_dir_of(path) < 0)
        return errbuf_set(err, AMLSEC_EIO, "cannot sync the directory of '%s': %s", path,
                          strerror(errno));
    return 0;
fail:
    if (fd >= 0)
        close(fd);
    unlink(tmp);
    return rc;
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
