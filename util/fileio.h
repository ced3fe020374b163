/* Whole-file reads with a size cap, and atomic replacement of a file
 * (git lockfile.h semantics: write "<path>.tmp.<pid>" with O_EXCL, fsync,
 * rename over path, fsync the directory). Readers see the old contents or
 * the new, never a mix. */
#ifndef AMLSEC_UTIL_FILEIO_H
#define AMLSEC_UTIL_FILEIO_H

#include <stddef.h>
#include <sys/types.h>

#include "util/buf.h"
#include "util/errbuf.h"

/* Reads path into out (appending). Files larger than max fail with
 * AMLSEC_EUSAGE and a message naming the limit; missing files fail with
 * AMLSEC_ENOTFOUND. */
int file_read_all(struct buf *out, const char *path, size_t max, struct errbuf *err);

/* Replaces path with data atomically, with permission bits mode. */
int file_write_atomic(const char *path, const void *data, size_t len, mode_t mode,
                      struct errbuf *err);

/* The same, written as it is made: open, write (appending) or pwrite
 * (at an offset already written: a field filled in at the end), then
 * commit (fsync, rename over path, fsync the directory) or abort (the
 * temporary file removed). fd is open for reading too. A failed commit
 * has aborted. */
struct file_atomic {
    int fd;
    const char *path;
    mode_t mode;
    char tmp[4096];
};
int file_atomic_open(struct file_atomic *fa, const char *path, mode_t mode, struct errbuf *err);
int file_atomic_write(struct file_atomic *fa, const void *data, size_t len, struct errbuf *err);
int file_atomic_pwrite(struct file_atomic *fa, const void *data, size_t len, off_t at,
                       struct errbuf *err);
int file_atomic_commit(struct file_atomic *fa, struct errbuf *err);
void file_atomic_abort(struct file_atomic *fa);
/* Removes the temporary files writers of path that died before their
 * commit left behind (path.tmp.PID, as file_atomic_open names them), for
 * a caller that holds path's lock, so that no other writer is at work:
 * those of PIDs no process has now (kill(PID, 0): ESRCH), never its own
 * nor a live process's. Returns how many it removed. */
size_t file_atomic_sweep(const char *path);

/* Creates the directories leading to path (mode 0700) that do not exist. */
int file_mkdir_parents(const char *path, struct errbuf *err);

/* Test hook for crash-safety tests: when AMLSEC_FAULT_WRITE names a step
 * ("after-tmp", "after-fsync", "after-rename"), the process _exit(86)s
 * there. Unset in normal runs. */
#define FILEIO_FAULT_ENV "AMLSEC_FAULT_WRITE"

#endif
