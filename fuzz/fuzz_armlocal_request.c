/* libFuzzer target over armlocal's request handler, without sockets.
 * Input: "METHOD PATH[?QUERY]\n" then "Name: value\n" header lines, an empty
 * line, and the body. Each input runs against a fresh in-memory server whose
 * store is first seeded by a few fixed requests, so deeper rules are
 * reachable. Crashes, sanitizer reports and leaks are the failures. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "providers/armlocal/armlocal.h"
#include "util/banned.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void pct_decode(char *s)
{
    char *o = s;
    for (; *s; s++) {
        if (*s == '%' && s[1] && s[2]) {
            char hx[3] = {s[1], s[2], 0}, *end;
            long v = strtol(hx, &end, 16);
            if (*end == '\0') {
                *o++ = (char)v;
                s += 2;
                continue;
            }
        }
        *o++ = *s == '+' ? ' ' : *s;
    }
    *o = '\0';
}

static void run(struct armlocal *al, const char *method, char *url, struct armlocal_kv *hdr,
                size_t nhdr, const char *body, size_t body_len)
{
    struct armlocal_kv q[32];
    struct armlocal_request req;
    struct armlocal_response res;
    char *qs = strchr(url, '?');
    size_t nq = 0;

    if (qs) {
        char *p = qs + 1;
        *qs = '\0';
        while (p && *p && nq < 32) {
            char *amp = strchr(p, '&'), *eq;
            if (amp)
                *amp = '\0';
            eq = strchr(p, '=');
            if (eq)
                *eq = '\0';
            pct_decode(p);
            if (eq)
                pct_decode(eq + 1);
            q[nq].key = p;
            q[nq].value = eq ? eq + 1 : NULL;
            nq++;
            p = amp ? amp + 1 : NULL;
        }
    }
    pct_decode(url);
    memset(&req, 0, sizeof(req));
    req.method = method;
    req.path = url;
    req.query = q;
    req.nquery = nq;
    req.headers = hdr;
    req.nheaders = nhdr;
    req.body = body;
    req.body_len = body_len;
    req.body_too_large = body_len > ARMLOCAL_MAX_BODY;
    armlocal_response_init(&res);
    armlocal_handle(al, &req, &res);
    armlocal_response_release(&res);
}

static const char *const seeds[][3] = {
    {"PUT", "/subscriptions/s/resourceGroups/rg?api-version=2024-03-01",
     "{\"location\":\"eastus\"}"},
    {"PUT",
     "/subscriptions/s/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/"
     "kv?api-version=2025-05-01",
     "{\"location\":\"eastus\",\"properties\":{\"enablePurgeProtection\":true}}"},
    {"PUT",
     "/subscriptions/s/resourceGroups/rg/providers/Microsoft.MachineLearningServices/workspaces/"
     "ws?api-version=2025-09-01",
     "{\"location\":\"eastus\"}"},
    {"PUT",
     "/_armlocal/resources/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/"
     "virtualNetworks/v/subnets/s",
     "{\"type\":\"Microsoft.Network/virtualNetworks/subnets\"}"},
    /* identity: an application trusting armlocal's OIDC issuer, a request
     * token for its GitHub/Azure DevOps endpoints, App Service's header */
    {"POST", "/_armlocal/servicePrincipals",
     "{\"clientId\":\"app\",\"tenantId\":\"t\",\"secret\":\"s\",\"additionalTenants\":[\"a\"],"
     "\"federatedCredentials\":[{\"issuer\":\"http://127.0.0.1:1/oidc\",\"subject\":\"sub\"}]}"},
    {"POST", "/_armlocal/oidc/requestTokens",
     "{\"requestToken\":\"req\",\"subject\":\"sub\",\"serviceConnectionId\":\"sc\"}"},
    {"POST", "/_armlocal/managedIdentities", "{\"clientId\":\"uami\"}"},
    {"PUT", "/_armlocal/settings", "{\"identityHeader\":\"h\",\"tokenLifetimeS\":60}"},
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct armlocal_opts o = ARMLOCAL_OPTS_INIT;
    struct armlocal *al = NULL;
    struct armlocal_kv hdr[16], json_ct = {"Content-Type", "application/json"};
    char *text, *line, *body, *method, *url, *sp;
    size_t nhdr = 0, body_len;

    if (size > ((size_t)1 << 20))
        return 0;
    o.lro_ms = 0;
    if (armlocal_create(&al, &o, "http://127.0.0.1:1", NULL) < 0)
        return 0;
    for (size_t i = 0; i < sizeof(seeds) / sizeof(seeds[0]); i++) {
        char u[512];
        memcpy(u, seeds[i][1], strlen(seeds[i][1]) + 1);
        run(al, seeds[i][0], u, &json_ct, 1, seeds[i][2], strlen(seeds[i][2]));
    }
    text = malloc(size + 1);
    if (text == NULL)
        goto out;
    memcpy(text, data, size);
    text[size] = '\0';
    /* request line */
    line = text;
    body = strchr(line, '\n');
    if (body)
        *body++ = '\0';
    method = line;
    sp = strchr(line, ' ');
    if (sp == NULL)
        goto out;
    *sp = '\0';
    url = sp + 1;
    /* headers until an empty line */
    while (body && *body && *body != '\n' && nhdr < 16) {
        char *nl = strchr(body, '\n'), *colon;
        if (nl)
            *nl = '\0';
        colon = strchr(body, ':');
        if (colon) {
            *colon = '\0';
            hdr[nhdr].key = body;
            hdr[nhdr].value = colon[1] == ' ' ? colon + 2 : colon + 1;
            nhdr++;
        }
        body = nl ? nl + 1 : NULL;
    }
    if (body && *body == '\n')
        body++;
    body_len = body ? size - (size_t)(body - text) : 0;
    run(al, method, url, hdr, nhdr, body ? body : "", body_len);
out:
    free(text);
    armlocal_free(al);
    return 0;
}
