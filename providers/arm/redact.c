#include "providers/arm/redact.h"
#include "util/error.h"

#include <ctype.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/banned.h"

static pthread_mutex_t redact_lock = PTHREAD_MUTEX_INITIALIZER;
static char **secrets;
static size_t n_secrets, cap_secrets;

int redact_register(const char *secret)
{
    int rc = 0;
    if (secret == NULL || strlen(secret) < 6)
        return 0;
    pthread_mutex_lock(&redact_lock);
    for (size_t i = 0; i < n_secrets; i++)
        if (strcmp(secrets[i], secret) == 0)
            goto out;
    if (n_secrets == cap_secrets) {
        size_t cap = cap_secrets ? cap_secrets * 2 : 16;
        char **s = realloc(secrets, cap * sizeof(*s));
        if (s == NULL) {
            rc = AMLSEC_ENOMEM;
            goto out;
        }
        secrets = s;
        cap_secrets = cap;
    }
    if ((secrets[n_secrets] = strdup(secret)) == NULL) {
        rc = AMLSEC_ENOMEM;
        goto out;
    }
    n_secrets++;
out:
    pthread_mutex_unlock(&redact_lock);
    return rc;
}

void redact_reset(void)
{
    pthread_mutex_lock(&redact_lock);
    for (size_t i = 0; i < n_secrets; i++)
        free(secrets[i]);
    free(secrets);
    secrets = NULL;
    n_secrets = cap_secrets = 0;
    pthread_mutex_unlock(&redact_lock);
}

/* Headers whose whole value is a credential. */
static const char *const secret_headers[] = {
    "authorization:",
    "proxy-authorization:",
    "x-ms-identity:",
    "x-identity-header:",
    "secret:",
    "ocp-apim-subscription-key:",
    "x-ms-authorization-auxiliary:",
    "cookie:",
    "set-cookie:",
};

/* name= parameters (query strings, forms, connection strings). */
static const char *const secret_params[] = {
    "client_secret",
    "client_assertion",
    "assertion",
    "sig",
    "password",
    "access_token",
    "refresh_token",
    "code",
    "AccountKey",
    "SharedAccessKey",
    "SharedAccessSignature",
    "token",
    "secret",
    "id_token",
};

static int is_token_char(unsigned char c)
{
    return isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~' || c == '+' || c == '/' ||
           c == '=' || c == '%';
}

static int json_name_is_secret(const char *name, size_t n)
{
    static const char *const contains[] = {
        "secret",           "password", "token",     "credential",
        "connectionstring", "sastoken", "assertion", "sas"};
    char low[64];
    if (n == 0 || n >= sizeof(low))
        return 0;
    for (size_t i = 0; i < n; i++)
        low[i] = (char)tolower((unsigned char)name[i]);
    low[n] = '\0';
    for (size_t i = 0; i < sizeof(contains) / sizeof(contains[0]); i++)
        if (strstr(low, contains[i]))
            return 1;
    /* primaryKey, secondaryKey, accessKey, key1, key2, "key" */
    if (n >= 3 && strcmp(low + n - 3, "key") == 0)
        return 1;
    if (strcmp(low, "key1") == 0 || strcmp(low, "key2") == 0)
        return 1;
    return 0;
}

/* At text[i] == '"': a JSON member name whose string value is secret?
 * Returns the offset of the value's first byte (after its opening quote),
 * or 0. */
static size_t json_secret_value(const char *text, size_t len, size_t i)
{
    size_t j = i + 1, name_end;
    while (j < len && text[j] != '"' && text[j] != '\\' && text[j] != '\n')
        j++;
    if (j >= len || text[j] != '"')
        return 0;
    name_end = j;
    j++;
    while (j < len && (text[j] == ' ' || text[j] == '\t'))
        j++;
    if (j >= len || text[j] != ':')
        return 0;
    j++;
    while (j < len && (text[j] == ' ' || text[j] == '\t' || text[j] == '\n' || text[j] == '\r'))
        j++;
    if (j >= len || text[j] != '"')
        return 0;
    if (!json_name_is_secret(text + i + 1, name_end - i - 1))
        return 0;
    return j + 1;
}

static int boundary_before(const char *text, size_t i)
{
    if (i == 0)
        return 1;
    unsigned char c = (unsigned char)text[i - 1];
    return !(isalnum(c) || c == '_' || c == '-');
}

int redact_append(struct buf *out, const char *text, size_t len)
{
    size_t i = 0, lit_start = 0;
    int rc = 0;

    pthread_mutex_lock(&redact_lock);
    while (i < len) {
        size_t skip_to = 0, keep = 0;

        /* 1. registered literals */
        for (size_t s = 0; s < n_secrets; s++) {
            size_t sl = strlen(secrets[s]);
            if (sl <= len - i && memcmp(text + i, secrets[s], sl) == 0) {
                keep = 0;
                skip_to = i + sl;
                break;
            }
        }
        /* 2. credential headers: mask to the end of the line */
        if (!skip_to && boundary_before(text, i)) {
            for (size_t h = 0; h < sizeof(secret_headers) / sizeof(secret_headers[0]); h++) {
                size_t hl = strlen(secret_headers[h]);
                if (hl <= len - i && strncasecmp(text + i, secret_headers[h], hl) == 0) {
                    size_t e = i + hl;
                    while (e < len && text[e] != '\n' && text[e] != '\r')
                        e++;
                    keep = hl;
                    skip_to = e;
                    break;
                }
            }
        }
        /* 3. Bearer tokens anywhere */
        if (!skip_to && len - i > 7 && strncasecmp(text + i, "bearer ", 7) == 0 &&
            boundary_before(text, i)) {
            size_t e = i + 7;
            while (e < len && is_token_char((unsigned char)text[e]))
                e++;
            if (e > i + 7) {
                keep = 7;
                skip_to = e;
            }
        }
        /* 4. name=value parameters */
        if (!skip_to && boundary_before(text, i)) {
            for (size_t p = 0; p < sizeof(secret_params) / sizeof(secret_params[0]); p++) {
                size_t pl = strlen(secret_params[p]);
                if (pl + 1 <= len - i && strncasecmp(text + i, secret_params[p], pl) == 0 &&
                    text[i + pl] == '=') {
                    size_t e = i + pl + 1;
                    while (e < len && text[e] != '&' && text[e] != ';' && text[e] != '"' &&
                           text[e] != '\'' && !isspace((unsigned char)text[e]))
                        e++;
                    if (e > i + pl + 1) {
                        keep = pl + 1;
                        skip_to = e;
                    }
                    break;
                }
            }
        }
        /* 5. JSON members with secret names */
        if (!skip_to && text[i] == '"') {
            size_t v = json_secret_value(text, len, i);
            if (v) {
                size_t e = v;
                while (e < len && text[e] != '"') {
                    if (text[e] == '\\' && e + 1 < len)
                        e++;
                    e++;
                }
                if (e > v) {
                    keep = v - i;
                    skip_to = e;
                }
            }
        }
        if (skip_to) {
            if ((rc = buf_add(out, text + lit_start, i - lit_start)) < 0 ||
                (rc = buf_add(out, text + i, keep)) < 0 ||
                (rc = buf_adds(out, keep && text[i + keep - 1] == ':' ? " " REDACTED : REDACTED)) <
                    0)
                goto out;
            i = skip_to;
            lit_start = i;
            continue;
        }
        i++;
    }
    rc = buf_add(out, text + lit_start, len - lit_start);
out:
    pthread_mutex_unlock(&redact_lock);
    return rc;
}

char *redact_dup(const char *text)
{
    struct buf b;
    buf_init(&b, 0);
    if (redact_append(&b, text, strlen(text)) < 0) {
        buf_release(&b);
        return NULL;
    }
    return buf_detach(&b, NULL);
}
