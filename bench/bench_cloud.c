/* See bench_cloud.h. */
#include "bench/bench_cloud.h"

#include <curl/curl.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static pid_t cloud_pid;
static CURL *curl; /* one handle for every control call: its connection is reused */

int bench_cloud_start(const char *armlocal, char *url, size_t n, const char *const args[])
{
    const char *argv[16] = {armlocal, "--listen", "127.0.0.1:0"};
    size_t argc = 3;
    int fds[2];
    FILE *f;
    for (size_t i = 0; args && args[i] && argc < sizeof(argv) / sizeof(argv[0]) - 1; i++)
        argv[argc++] = args[i];
    argv[argc] = NULL;
    if (pipe(fds) < 0)
        return -1;
    cloud_pid = fork();
    if (cloud_pid == 0) {
        int null = open("/dev/null", O_WRONLY);
        dup2(fds[1], 1);
        dup2(null, 2);
        close(fds[0]);
        execv(armlocal, (char *const *)argv);
        _exit(127);
    }
    close(fds[1]);
    f = fdopen(fds[0], "r");
    if (f == NULL || fgets(url, (int)n, f) == NULL) {
        if (f)
            fclose(f);
        return -1;
    }
    fclose(f);
    url[strcspn(url, "\r\n")] = '\0';
    return 0;
}

void bench_cloud_stop(void)
{
    if (cloud_pid > 0) {
        kill(cloud_pid, SIGTERM);
        waitpid(cloud_pid, NULL, 0);
        cloud_pid = 0;
    }
}

double bench_cloud_cpu(void)
{
    char path[64], buf[1024], *p;
    unsigned long ut, st;
    FILE *f;
    size_t n;
    if (cloud_pid <= 0)
        return -1;
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)cloud_pid);
    if ((f = fopen(path, "r")) == NULL)
        return -1;
    n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    /* after "pid (comm) ": state is field 3, utime and stime fields 14 and 15 */
    if ((p = strrchr(buf, ')')) == NULL ||
        sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
        return -1;
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

struct sink {
    char *buf; /* the whole body (the request log grows with the store) */
    size_t len, cap;
};

static size_t sink(char *p, size_t s, size_t n, void *u)
{
    struct sink *b = u;
    size_t k = s * n;
    if (b->len + k + 1 > b->cap) {
        size_t cap = (b->len + k + 1) * 2;
        char *q = realloc(b->buf, cap);
        if (q == NULL)
            return 0;
        b->buf = q;
        b->cap = cap;
    }
    memcpy(b->buf + b->len, p, k);
    b->len += k;
    b->buf[b->len] = '\0';
    return k;
}

/* The body of a control request (malloc'd), or NULL when it failed. */
static char *control(const char *url, const char *method, const char *path, const char *body)
{
    struct curl_slist *h;
    struct sink b = {NULL, 0, 0};
    char full[2048];
    long code = 0;
    if (curl == NULL && (curl = curl_easy_init()) == NULL)
        return NULL;
    h = curl_slist_append(NULL, "Content-Type: application/json");
    snprintf(full, sizeof(full), "%s%s", url, path);
    curl_easy_reset(curl);
    curl_easy_setopt(curl, CURLOPT_URL, full);
    curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, h);
    if (body)
        curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, sink);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &b);
    curl_easy_perform(curl);
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &code);
    curl_slist_free_all(h);
    if (code < 200 || code >= 300) {
        free(b.buf);
        return NULL;
    }
    return b.buf ? b.buf : strdup("");
}

int bench_control(const char *url, const char *method, const char *path, const char *body,
                  char *out, size_t outsz)
{
    char *got = control(url, method, path, body);
    if (got == NULL)
        return -1;
    if (out)
        snprintf(out, outsz, "%s", got);
    free(got);
    return 0;
}

char *bench_control_get(const char *url, const char *path)
{
    return control(url, "GET", path, NULL);
}

long bench_request_total(const char *url)
{
    char *out = bench_control_get(url, "/_armlocal/requests/totals");
    const char *t = out ? strstr(out, "\"total\":") : NULL;
    long n = t ? strtol(t + 8, NULL, 10) : -1;
    free(out);
    return n;
}

void bench_sibling(char *out, size_t n, const char *self, const char *name)
{
    const char *slash = strrchr(self, '/');
    if (slash)
        snprintf(out, n, "%.*s/../%s", (int)(slash - self), self, name);
    else
        snprintf(out, n, "./%s", name);
}
