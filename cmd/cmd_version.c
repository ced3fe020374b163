#include <curl/curl.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <stdio.h>

#include "cmd/cli.h"
#include "cmd/commands.h"
#include "util/banned.h"

int cmd_version(int argc, char **argv, struct cli_ctx *ctx)
{
    const struct command *self = command_find("version");
    static const struct option opts[] = {
        {"json", no_argument, NULL, 'j'}, {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
    int c, json = 0;
    curl_version_info_data *cv = curl_version_info(CURLVERSION_NOW);

    (void)ctx;
    while ((c = cli_getopt(argc, argv, opts, self)) != -1) {
        switch (c) {
        case 'j':
            json = 1;
            break;
        case CLI_HELP:
            fputs(self->usage, stdout);
            return EXIT_OK;
        default:
            return EXIT_FAIL;
        }
    }
    if (optind < argc)
        return cli_usage_error(self, "unexpected argument '%s'", argv[optind]);
    if (json) {
        printf("{\"amlsec_version\":\"%s\",\"libcurl\":\"%s\",\"jansson\":\"%s\","
               "\"openssl\":\"%s\"}\n",
               AMLSEC_VERSION, cv->version, jansson_version_str(),
               OpenSSL_version(OPENSSL_VERSION_STRING));
    } else {
        printf("amlsec %s\n", AMLSEC_VERSION);
        printf("libcurl %s, jansson %s, OpenSSL %s\n", cv->version, jansson_version_str(),
               OpenSSL_version(OPENSSL_VERSION_STRING));
    }
    return EXIT_OK;
}
