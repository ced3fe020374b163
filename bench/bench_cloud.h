/* What the benchmarks that drive amlsec as a process share: an
 * amlsec-armlocal child process, calls to its control API, and where the
 * sibling binaries are. */
#ifndef AMLSEC_BENCH_CLOUD_H
#define AMLSEC_BENCH_CLOUD_H

#include <stddef.h>

/* Starts armlocal on a loopback port with args (NULL-terminated, after
 * --listen); its base URL goes to url. One cloud at a time. */
int bench_cloud_start(const char *armlocal, char *url, size_t n, const char *const args[]);
void bench_cloud_stop(void);
/* A control or ARM call to the cloud at url: 0 on a 2xx, else -1; the
 * body (truncated to outsz) goes to out when out is not NULL. */
int bench_control(const char *url, const char *method, const char *path, const char *body,
                  char *out, size_t outsz);
/* The body of GET url+path (malloc'd; the whole of it), or NULL. */
char *bench_control_get(const char *url, const char *path);
/* Requests the cloud has answered so far (its request log's total). */
long bench_request_total(const char *url);
/* CPU seconds (user + system) the running cloud has used so far, from
 * /proc; -1 when unknown. Its work per command, whatever the load. */
double bench_cloud_cpu(void);
/* name beside the directory of self (argv[0]): "DIR/../name". */
void bench_sibling(char *out, size_t n, const char *self, const char *name);

#endif
