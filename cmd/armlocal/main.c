/* amlsec-armlocal: the ARM-compatible local cloud, standalone
 * (docs/local-cloud.md). The first line on stdout is the base URL; the
 * server runs until SIGINT or SIGTERM. */
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "providers/armlocal/armlocal.h"
#include "util/log.h"
#include "util/banned.h"

static const char usage[] =
    "Usage: amlsec-armlocal [--listen 127.0.0.1:PORT] [--data DIR] [options]\n"
    "\n"
    "Runs the ARM-compatible local cloud until SIGINT/SIGTERM. The first line on\n"
    "stdout is the base URL (port 0 picks a free port).\n"
    "\n"
    "Options:\n"
    "  --listen HOST:PORT          loopback address (default 127.0.0.1:0)\n"
    "  --data DIR                  persist resources under DIR (default: memory only)\n"
    "  --latency-ms N              added to every request (default 0)\n"
    "  --lro-ms N|TYPE=N[,...]     how long operations stay in progress (default 1000);\n"
    "                              TYPE=N for one resource type, e.g.\n"
    "                              Microsoft.Storage/storageAccounts=600 (its synchronous\n"
    "                              operations then answer after N too); repeatable\n"
    "  --flush-ms N                group commit window for --data (default 0: each write is\n"
    "                              synced before its answer)\n"
    "  --throttle arm|off          ARM token buckets per subscription and principal\n"
    "  --graph-quota on|off        Resource Graph's user quota, 15 queries per 5 s, 429\n"
    "                              past it (default on; off: benchmarks of amlsec only)\n"
    "  --auth required|off         require bearer tokens issued by the local cloud\n"
    "  --faults SPEC               inject faults, e.g. "
    "'kind=503,method=PUT,path=*/vaults/*,nth=2'\n"
    "  --seed N                    deterministic GUIDs and key versions\n"
    "  --policy-definitions DIR    built-in policy definitions (Azure JSON exports)\n"
    "  --aliases CSV               provider aliases ('alias,defaultPath' rows)\n"
    "  --tls-cert PEM --tls-key PEM  serve HTTPS\n";

static void log_sink(enum log_level level, const char *msg, void *payload)
{
    (void)level;
    (void)payload;
    fprintf(stderr, "amlsec-armlocal: %s\n", msg);
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {{"listen", required_argument, NULL, 0},
                                         {"data", required_argument, NULL, 0},
                                         {"latency-ms", required_argument, NULL, 0},
                                         {"lro-ms", required_argument, NULL, 0},
                                         {"flush-ms", required_argument, NULL, 0},
                                         {"throttle", required_argument, NULL, 0},
                                         {"graph-quota", required_argument, NULL, 0},
                                         {"auth", required_argument, NULL, 0},
                                         {"faults", required_argument, NULL, 0},
                                         {"seed", required_argument, NULL, 0},
                                         {"policy-definitions", required_argument, NULL, 0},
                                         {"aliases", required_argument, NULL, 0},
                                         {"tls-cert", required_argument, NULL, 0},
                                         {"tls-key", required_argument, NULL, 0},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    struct armlocal_opts o = ARMLOCAL_OPTS_INIT;
    struct errbuf err = ERRBUF_INIT;
    struct armlocal *al;
    sigset_t set;
    int c, idx, sig;

    log_set_sink(LOG_WARN, log_sink, NULL);
    while ((c = getopt_long_only(argc, argv, "h", opts, &idx)) != -1) {
        if (c == 'h') {
            fputs(usage, stdout);
            return 0;
        }
        if (c != 0) {
            fputs(usage, stderr);
            return 1;
        }
        if (armlocal_opts_set(&o, opts[idx].name, optarg, &err) < 0) {
            fprintf(stderr, "amlsec-armlocal: error: %s\n", err.msg);
            return 1;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "amlsec-armlocal: error: unexpected argument '%s'\n", argv[optind]);
        return 1;
    }
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
    if (armlocal_start(&al, &o, &err) < 0) {
        fprintf(stderr, "amlsec-armlocal: error: %s\n", err.msg);
        return 1;
    }
    printf("%s\n", armlocal_base_url(al));
    fflush(stdout);
    sigwait(&set, &sig);
    armlocal_stop(al);
    return 0;
}
