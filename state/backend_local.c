#include "state/backend_local.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/error.h"
#include "util/fileio.h"
#include "util/jsonw.h"
#include "util/banned.h"

struct local {
    struct state_backend base;
    char *path, *lock_path, *backup_path;
    int lock_fd;
    /* What the file looked like when last read or written, to detect a
     * writer that did not take the lock. */
    int seen, seen_exists;
    struct stat seen_st;
};

static char *str_printf(const char *fmt, const char *a, const char *b)
{
    size_t n = strlen(a) + strlen(b) + strlen(fmt) + 1;
    char *s = malloc(n);
    if (s)
        snprintf(s, n, fmt, a, b);
    return s;
}

static void remember(struct local *l)
{
    l->seen = 1;
    l->seen_exists = stat(l->path, &l->seen_st) == 0;
}

static int same_file(const struct stat *a, const struct stat *b)
{
    return a->st_dev == b->st_dev && a->st_ino == b->st_ino && a->st_size == b->st_size &&
           a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec;
}

/* The state file is never reached through a symbolic link: writing
 * replaces the file by rename, which would silently turn the link into a
 * regular file and leave its target stale. Refused, naming the target. */
static int refuse_symlink(const struct local *l, const char *path, const char *what,
                          struct errbuf *err)
{
    struct stat st;
    char target[1024];
    ssize_t n;
    if (lstat(path, &st) < 0 || !S_ISLNK(st.st_mode))
        return 0;
    n = readlink(path, target, sizeof(target) - 1);
    target[n > 0 ? n : 0] = '\0';
    (void)l;
    return errbuf_set(err, AMLSEC_EUSAGE,
                      "%s '%s' is a symbolic link (to '%s'); amlsec does not follow links for its "
                      "state files: use -state (or the settings block's path) with the real file, "
                      "or remove the link",
                      what, path, target);
}

static int local_read(struct state_backend *be, struct buf *out, struct errbuf *err)
{
    struct local *l = (struct local *)be;
    struct stat st;
    int rc;

    if ((rc = refuse_symlink(l, l->path, "state", err)) < 0)
        return rc;

    /* One allocation of the right size rather than doubling as it reads. */
    if (stat(l->path, &st) == 0 && S_ISREG(st.st_mode) && (size_t)st.st_size < STATE_MAX_BYTES)
        buf_grow(out, (size_t)st.st_size);
    rc = file_read_all(out, l->path, STATE_MAX_BYTES, err);
    if (rc == 0 || rc == AMLSEC_ENOTFOUND)
        remember(l);
    return rc;
}

/* 0 while the lock file at the path is still the one this process flock'd. */
static int lock_still_mine(struct local *l, struct errbuf *err)
{
    struct stat a, b;
    if (fstat(l->lock_fd, &a) < 0 || stat(l->lock_path, &b) < 0 || a.st_dev != b.st_dev ||
        a.st_ino != b.st_ino)
        return errbuf_set(err, AMLSEC_ELOCKED,
                          "the lock on state '%s' was force-unlocked while this run held it; "
                          "not writing",
                          l->path);
    return 0;
}

static int local_write(struct state_backend *be, const void *data, size_t len, struct errbuf *err)
{
    struct local *l = (struct local *)be;
    struct stat now;
    struct file_atomic fa;
    char tmp[4200];
    int rc, exists;

    if (be->locked && (rc = lock_still_mine(l, err)) < 0)
        return rc;
    if ((rc = refuse_symlink(l, l->path, "state", err)) < 0 ||
        (rc = refuse_symlink(l, l->backup_path, "the state's backup", err)) < 0)
        return rc;
    if ((rc = file_mkdir_parents(l->path, err)) < 0)
        return rc;
    exists = stat(l->path, &now) == 0;
    if (l->seen && (exists != l->seen_exists || (exists && !same_file(&now, &l->seen_st))))
        return errbuf_set(err, AMLSEC_ECONFLICT,
                          "state '%s' changed since it was read (another writer without the "
                          "lock?); not overwriting",
                          l->path);
    /* The new version written first: a write that fails (a full disk)
     * leaves the state and its backup as they were. */
    if ((rc = file_atomic_open(&fa, l->path, 0600, err)) < 0)
        return rc;
    if ((rc = file_atomic_write(&fa, data, len, err)) < 0)
        goto abort;
    if (exists) {
        /* Keep the previous version: a hard link, renamed into place.
         * rename(2) of a link onto another link of the same file does
         * nothing (the backup already is the state, after a failed
         * commit), so tmp is removed either way. */
        snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", l->backup_path, (long)getpid());
        unlink(tmp);
        if (link(l->path, tmp) < 0 || rename(tmp, l->backup_path) < 0) {
            rc = errbuf_set(err, AMLSEC_EIO, "cannot keep the backup '%s': %s", l->backup_path,
                            strerror(errno));
            unlink(tmp);
            goto abort;
        }
        unlink(tmp);
    }
    if ((rc = file_atomic_commit(&fa, err)) < 0)
        return rc; /* aborted */
    remember(l);
    /* what writers killed before their commit left (under the lock, no
     * other writer is at work) */
    if (be->locked) {
        file_atomic_sweep(l->path);
        file_atomic_sweep(l->backup_path);
    }
    return 0;
abort:
    file_atomic_abort(&fa);
    return rc;
}

static int read_holder(int fd, struct lock_info *holder)
{
    char text[2048];
    ssize_t n = pread(fd, text, sizeof(text) - 1, 0);
    json_t *obj;
    int rc;

    if (n <= 0)
        return AMLSEC_ENOTFOUND;
    text[n] = '\0';
    obj = json_loads(text, 0, NULL);
    rc = obj ? lock_info_from_json(holder, obj) : AMLSEC_EPARSE;
    json_decref(obj);
    return rc;
}

static int local_try_lock(struct state_backend *be, const struct lock_info *mine,
                          struct lock_info *holder, struct errbuf *err)
{
    struct local *l = (struct local *)be;
    struct stat a, b;
    char *text = NULL;
    int fd = -1, rc;

    if ((rc = file_mkdir_parents(l->lock_path, err)) < 0)
        return rc;
    for (int attempt = 0;; attempt++) {
        /* never through a link: the holder's identity is written into it */
        fd = open(l->lock_path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd < 0 && errno == ELOOP)
            return refuse_symlink(l, l->lock_path, "the lock file", err);
        if (fd < 0)
            return errbuf_set(err, AMLSEC_EIO, "cannot open the lock file '%s': %s", l->lock_path,
                              strerror(errno));
        if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
            rc = errno == EWOULDBLOCK ? AMLSEC_ELOCKED : AMLSEC_EIO;
            /* The holder writes its info just after taking the flock. */
            for (int i = 0; rc == AMLSEC_ELOCKED && i < 50 && read_holder(fd, holder) < 0; i++)
                usleep(10 * 1000);
            if (rc != AMLSEC_ELOCKED)
                errbuf_set(err, rc, "cannot lock '%s': %s", l->lock_path, strerror(errno));
            close(fd);
            return rc;
        }
        /* The file may have been unlinked by its last holder between our
         * open and flock: then the lock is on a dead inode; try again. */
        if (fstat(fd, &a) == 0 && stat(l->lock_path, &b) == 0 && a.st_dev == b.st_dev &&
            a.st_ino == b.st_ino)
            break;
        close(fd);
        if (attempt > 50)
            return errbuf_set(err, AMLSEC_EIO, "cannot settle the lock file '%s'", l->lock_path);
    }
    {
        json_t *obj = lock_info_to_json(mine);
        text = obj ? jsonw_dumps(obj, JSON_SORT_KEYS) : NULL;
        json_decref(obj);
    }
    if (text == NULL) {
        rc = errbuf_set(err, AMLSEC_ENOMEM, "out of memory");
        goto fail;
    }
    if (ftruncate(fd, 0) < 0 || pwrite(fd, text, strlen(text), 0) != (ssize_t)strlen(text) ||
        pwrite(fd, "\n", 1, (off_t)strlen(text)) != 1 || fsync(fd) < 0) {
        rc = errbuf_set(err, AMLSEC_EIO, "cannot write the lock file '%s': %s", l->lock_path,
                        strerror(errno));
        goto fail;
    }
    free(text);
    l->lock_fd = fd;
    return 0;
fail:
    free(text);
    unlink(l->lock_path);
    close(fd);
    return rc;
}

static int local_unlock(struct state_backend *be, struct errbuf *err)
{
    struct local *l = (struct local *)be;
    int rc = 0;
    if (l->lock_fd < 0)
        return 0;
    if (lock_still_mine(l, err) == 0)
        unlink(l->lock_path);
    else
        rc = AMLSEC_ELOCKED;
    close(l->lock_fd);
    l->lock_fd = -1;
    return rc;
}

static int local_force_unlock(struct state_backend *be, const char *id, struct errbuf *err)
{
    struct local *l = (struct local *)be;
    struct lock_info holder;
    struct stat a, b;
    char desc[512];
    int fd, rc;

    fd = open(l->lock_path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0 && errno == ELOOP)
        return refuse_symlink(l, l->lock_path, "the lock file", err);
    if (fd < 0)
        return errbuf_set(err, errno == ENOENT ? AMLSEC_ENOTFOUND : AMLSEC_EIO,
                          "state '%s' is not locked", l->path);
    memset(&holder, 0, sizeof(holder));
    if (read_holder(fd, &holder) < 0 || strcmp(holder.id, id) != 0) {
        if (holder.id[0]) {
            lock_info_describe(&holder, desc, sizeof(desc));
            rc = errbuf_set(err, AMLSEC_ECONFLICT,
                            "lock id '%s' does not match the lock on state '%s' (held by %s)", id,
                            l->path, desc);
        } else {
            rc = errbuf_set(err, AMLSEC_ENOTFOUND, "state '%s' is not locked", l->path);
        }
        close(fd);
        return rc;
    }
    rc = 0;
    if (fstat(fd, &a) == 0 && stat(l->lock_path, &b) == 0 && a.st_ino == b.st_ino &&
        a.st_dev == b.st_dev) {
        if (unlink(l->lock_path) < 0)
            rc = errbuf_set(err, AMLSEC_EIO, "cannot remove '%s': %s", l->lock_path,
                            strerror(errno));
    } else {
        rc = errbuf_set(err, AMLSEC_ECONFLICT, "the lock on state '%s' changed; look again",
                        l->path);
    }
    close(fd);
    return rc;
}

static void local_free(struct state_backend *be)
{
    struct local *l = (struct local *)be;
    if (l->lock_fd >= 0)
        close(l->lock_fd);
    free(l->path);
    free(l->lock_path);
    free(l->backup_path);
    free(l);
}

static const struct state_backend_ops local_ops = {
    .name = "local",
    .read = local_read,
    .write = local_write,
    .try_lock = local_try_lock,
    .unlock = local_unlock,
    .force_unlock = local_force_unlock,
    .free = local_free,
};

int backend_local_new(struct state_backend **out, const char *path, struct errbuf *err)
{
    struct local *l;

    *out = NULL;
    if (path == NULL || *path == '\0')
        path = BACKEND_LOCAL_DEFAULT_PATH;
    if (strlen(path) > 3800)
        return errbuf_set(err, AMLSEC_EUSAGE, "state path too long");
    l = calloc(1, sizeof(*l));
    if (l == NULL)
        return errbuf_set(err, AMLSEC_ENOMEM, "out of memory");
    l->lock_fd = -1;
    l->path = strdup(path);
    l->lock_path = str_printf("%s%s", path, ".lock");
    l->backup_path = str_printf("%s%s", path, ".backup");
    if (!l->path || !l->lock_path || !l->backup_path) {
        local_free(&l->base);
        return errbuf_set(err, AMLSEC_ENOMEM, "out of memory");
    }
    l->base.ops = &local_ops;
    l->base.where = l->path;
    *out = &l->base;
    return 0;
}
