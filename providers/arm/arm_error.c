#include "providers/arm/arm_error.h"
#include "util/error.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "util/banned.h"

static void copy_line(char *dst, size_t size, const char *src)
{
    size_t i = 0;
    if (src == NULL) {
        dst[0] = '\0';
        return;
    }
    for (; src[i] && i + 1 < size; i++)
        dst[i] = (src[i] == '\n' || src[i] == '\r') ? ' ' : src[i];
    dst[i] = '\0';
}

int arm_error_parse(struct arm_error *out, const char *body, size_t len)
{
    json_t *root, *e;
    int rc = AMLSEC_ENOTFOUND;

    memset(out, 0, sizeof(*out));
    if (body == NULL || len == 0)
        return AMLSEC_ENOTFOUND;
    root = json_loadb(body, len, 0, NULL);
    if (!json_is_object(root))
        goto out;
    e = json_object_get(root, "error");
    if (json_is_string(e)) {
        /* Entra ID: {"error":"invalid_client","error_description":"AADSTS..."} */
        copy_line(out->code, sizeof(out->code), json_string_value(e));
        copy_line(out->message, sizeof(out->message),
                  json_string_value(json_object_get(root, "error_description")));
        rc = 0;
        goto out;
    }
    if (!json_is_object(e))
        e = json_object_get(root, "odata.error"); /* older data planes */
    if (!json_is_object(e))
        e = root; /* flat {code, message} */
    copy_line(out->code, sizeof(out->code), json_string_value(json_object_get(e, "code")));
    {
        json_t *m = json_object_get(e, "message");
        if (json_is_object(m)) /* odata: {"lang","value"} */
            m = json_object_get(m, "value");
        copy_line(out->message, sizeof(out->message), json_string_value(m));
    }
    copy_line(out->target, sizeof(out->target), json_string_value(json_object_get(e, "target")));
    {
        /* The first detail often says what the generic message does not
         * (Resource Graph: "Please provide below info..." + InvalidQuery). */
        json_t *d = json_array_get(json_object_get(e, "details"), 0);
        const char *dc = json_string_value(json_object_get(d, "code"));
        const char *dm = json_string_value(json_object_get(d, "message"));
        size_t n = strlen(out->message);
        if ((dc || dm) && n + 8 < sizeof(out->message)) {
            char detail[sizeof(out->message)];
            snprintf(detail, sizeof(detail), "%s%s%s", dc ? dc : "", dc && dm ? ": " : "",
                     dm ? dm : "");
            copy_line(out->message + n, sizeof(out->message) - n, " [");
            n = strlen(out->message);
            copy_line(out->message + n, sizeof(out->message) - n, detail);
            n = strlen(out->message);
            if (n + 1 < sizeof(out->message)) {
                out->message[n] = ']';
                out->message[n + 1] = '\0';
            }
        }
    }
    if (out->code[0] || out->message[0])
        rc = 0;
out:
    json_decref(root);
    return rc;
}

void arm_error_format(const struct arm_error *e, char *dst, size_t size)
{
    int n = snprintf(dst, size, "%s%s%s", e->code[0] ? e->code : "",
                     e->code[0] && e->message[0] ? ": " : "", e->message);
    if (n >= 0 && (size_t)n < size && e->target[0])
        snprintf(dst + n, size - (size_t)n, " (target '%s')", e->target);
}
