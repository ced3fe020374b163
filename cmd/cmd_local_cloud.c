/* amlsec local-cloud: runs the ARM-compatible local cloud in the foreground,
 * embedded in the amlsec process (the same library and flags as
 * amlsec-armlocal; data under .amlsec/local by default). The planner's
 * `--cloud local` starts the same server through armlocal_opts_embedded. */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "cmd/cli.h"
#include "cmd/commands.h"
#ifdef AMLSEC_HAVE_ARMLOCAL
#include "providers/armlocal/armlocal.h"
#endif
#include "util/banned.h"

int cmd_local_cloud(int argc, char **argv, struct cli_ctx *ctx)
{
    const struct command *self = command_find("local-cloud");
#ifdef AMLSEC_HAVE_ARMLOCAL
    /* val = 1000 + index, so cli_getopt's answer names the flag */
    static const struct option opts[] = {{"listen", required_argument, NULL, 1000 + 0},
                                         {"data", required_argument, NULL, 1000 + 1},
                                         {"latency-ms", required_argument, NULL, 1000 + 2},
                                         {"lro-ms", required_argument, NULL, 1000 + 3},
                                         {"flush-ms", required_argument, NULL, 1000 + 4},
                                         {"throttle", required_argument, NULL, 1000 + 5},
                                         {"auth", required_argument, NULL, 1000 + 6},
                                         {"faults", required_argument, NULL, 1000 + 7},
                                         {"seed", required_argument, NULL, 1000 + 8},
                                         {"policy-definitions", required_argument, NULL, 1000 + 9},
                                         {"aliases", required_argument, NULL, 1000 + 10},
                                         {"tls-cert", required_argument, NULL, 1000 + 11},
                                         {"tls-key", required_argument, NULL, 1000 + 12},
                                         {"graph-quota", required_argument, NULL, 1000 + 13},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    struct armlocal_opts o;
    struct errbuf err = ERRBUF_INIT;
    struct armlocal *al;
    char data[4096];
    sigset_t set;
    int c, sig;

    (void)ctx;
    if (armlocal_opts_embedded(&o, ".", data, sizeof(data), &err) < 0) {
        cli_error("%s", err.msg);
        return EXIT_FAIL;
    }
    o.lro_ms = 1000;
    while ((c = cli_getopt(argc, argv, opts, self)) != -1) {
        if (c == CLI_HELP) {
            fputs(self->usage, stdout);
            return EXIT_OK;
        }
        if (c < 1000 || c >= 1000 + (int)(sizeof(opts) / sizeof(opts[0])))
            return EXIT_FAIL; /* cli_getopt printed the usage error */
        if (armlocal_opts_set(&o, opts[c - 1000].name, optarg, &err) < 0)
            return cli_usage_error(self, "%s", err.msg);
    }
    if (optind < argc)
        return cli_usage_error(self, "unexpected argument '%s'", argv[optind]);
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
    if (armlocal_start(&al, &o, &err) < 0) {
        cli_error("%s", err.msg);
        return EXIT_FAIL;
    }
    printf("%s\n", armlocal_base_url(al));
    fflush(stdout);
    sigwait(&set, &sig);
    armlocal_stop(al);
    return EXIT_OK;
#else
    (void)argc;
    (void)argv;
    (void)ctx;
    cli_error("'%s' is not available: amlsec was built without the local cloud", self->name);
    return EXIT_FAIL;
#endif
}
