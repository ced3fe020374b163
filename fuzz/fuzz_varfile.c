/* Fuzz target: JSON -var-files (parser/config.c's load_json_var_file, and
 * util/jsonw.c's jsonw_loadb under it). Each input is a *.json var-file
 * for a configuration declaring variables of several types (a sensitive
 * one and validations among them), loaded as plan loads it, its
 * diagnostics rendered. The input is also read by jsonw_loadb on its own:
 * what reads must write (jsonw_dumps) and read back equal, numbers as
 * the language holds them (value_json_numbers) included. Crashes,
 * sanitizer reports and leaks are the other failures. Seeds:
 * fuzz/corpora/varfile/. */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "parser/config.h"
#include "parser/diag.h"
#include "parser/value.h"
#include "providers/arm/resolve.h"
#include "providers/arm/schema.h"
#include "util/error.h"
#include "util/jsonw.h"
#include "util/banned.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char config_text[] =
    "settings {\n"
    "  subscription = \"00000000-0000-0000-0000-000000000000\"\n"
    "  location     = \"westeurope\"\n"
    "}\n"
    "variable \"any\" {}\n"
    "variable \"n\" {\n"
    "  type = number\n"
    "  validation {\n"
    "    condition     = var.n >= 0\n"
    "    error_message = \"n is not negative\"\n"
    "  }\n"
    "}\n"
    "variable \"tags\" {\n"
    "  type    = map(string)\n"
    "  default = {}\n"
    "}\n"
    "variable \"list\" {\n"
    "  type    = list(number)\n"
    "  default = []\n"
    "}\n"
    "variable \"secret\" {\n"
    "  type      = string\n"
    "  sensitive = true\n"
    "  default   = \"x\"\n"
    "}\n"
    "variable \"obj\" {\n"
    "  type    = object({ a = number, b = list(string) })\n"
    "  default = { a = 1, b = [] }\n"
    "}\n"
    "resource_group \"rg\" {\n"
    "  name = \"rg-${var.n}\"\n"
    "  tags = merge(var.tags, { n = tostring(var.n + length(var.list)) })\n"
    "}\n"
    "output \"all\" {\n"
    "  value = [var.any, var.obj, sum(concat([0], var.list))]\n"
    "}\n";

static char dir[64], cfg_path[96], var_path[96];

static void cleanup(void)
{
    if (cfg_path[0])
        unlink(cfg_path);
    if (var_path[0])
        unlink(var_path);
    if (dir[0])
        rmdir(dir);
}

static void write_file(const char *path, const void *data, size_t size)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    size_t off = 0;
    if (fd < 0)
        abort();
    while (off < size) {
        ssize_t n = write(fd, (const char *)data + off, size - off);
        if (n <= 0)
            abort();
        off += (size_t)n;
    }
    close(fd);
}

static void set_up(void)
{
    const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    snprintf(dir, sizeof(dir), "%s/amlsec-fuzz-XXXXXX", base);
    if (mkdtemp(dir) == NULL)
        abort();
    snprintf(cfg_path, sizeof(cfg_path), "%s/main.amlsec", dir);
    snprintf(var_path, sizeof(var_path), "%s/vars.json", dir);
    write_file(cfg_path, config_text, sizeof(config_text) - 1);
    atexit(cleanup);
}

/* jsonw_loadb's reading writes and reads back the same. */
static void json_round_trips(const uint8_t *data, size_t size)
{
    json_t *v = jsonw_loadb((const char *)data, size, JSON_DECODE_ANY, NULL), *fixed = NULL, *w;
    char *text;
    if (v == NULL)
        return;
    if (value_json_numbers(v, &fixed) == 0 && fixed) {
        json_decref(v);
        v = fixed;
    }
    text = jsonw_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    if (text == NULL) {
        json_decref(v);
        return;
    }
    w = jsonw_loadb(text, strlen(text), JSON_DECODE_ANY, NULL);
    if (w == NULL) {
        fprintf(stderr, "what jsonw_loadb read does not read back: %s\n", text);
        abort();
    }
    fixed = NULL;
    if (value_json_numbers(w, &fixed) == 0 && fixed) {
        json_decref(w);
        w = fixed;
    }
    if (!value_equal(v, w)) {
        char *again = jsonw_dumps(w, JSON_COMPACT | JSON_ENCODE_ANY);
        fprintf(stderr, "read back otherwise:\n%s\n%s\n", text, again ? again : "");
        abort();
    }
    free(text);
    json_decref(v);
    json_decref(w);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct config_opts opts;
    struct config *cfg = NULL;
    struct diag_list diags;
    struct errbuf err = ERRBUF_INIT;
    const char *files[1];
    struct buf b;

    if (size > ((size_t)1 << 20))
        return 0;
    if (dir[0] == '\0')
        set_up();
    write_file(var_path, data, size);
    files[0] = var_path;
    memset(&opts, 0, sizeof(opts));
    opts.path = cfg_path;
    opts.kinds = schema_kind_names;
    opts.resolver = resolve_resolver();
    opts.var_files = files;
    opts.nvar_files = 1;
    diag_list_init(&diags);
    config_load(&cfg, &opts, &diags, &err);
    buf_init(&b, 0);
    diag_list_sort(&diags);
    for (size_t i = 0; i < diags.n; i++)
        diag_format_text(&b, &diags.items[i], false);
    buf_release(&b);
    config_free(cfg);
    diag_list_release(&diags);
    json_round_trips(data, size);
    return 0;
}
