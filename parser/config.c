#include "parser/config.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <limits.h>
#include <sys/stat.h>

#include "parser/eval.h"
#include "parser/parse.h"
#include "parser/value.h"
#include "util/error.h"
#include "util/hash.h"
#include "util/strmap.h"
#include "util/suggest.h"
#include "util/jsonw.h"
#include "util/banned.h"

/* Block types the language itself defines at top level. */
static const char *const top_keywords[] = {"settings", "variable", "existing", "locals", "output",
                                           "module",   "import",   "moved",    NULL};
static const char *const module_meta[] = {"source", "for_each", "count", "depends_on", NULL};
static const char *const output_attrs[] = {"value", "sensitive", "description", NULL};
static const char *const variable_attrs[] = {"type", "description", "default", "sensitive", NULL};
static const char *const variable_types[] = {"string", "number", "bool", "list",
                                             "map",    "any",    NULL};
static const char *const settings_attrs[] = {"subscription", "tenant",      "location", "cloud",
                                             "environment",  "parallelism", NULL};
static const char *const settings_blocks[] = {"state", NULL};
static const char *const lifecycle_attrs[] = {"prevent_destroy",  "create_before_destroy",
                                              "purge_on_destroy", "ignore_changes",
                                              "ignore_rules",     NULL};
/* Meta-arguments every resource block accepts. */
static const char *const meta_attrs[] = {"for_each", "count", "depends_on", NULL};

/* Instances `count` may ask for: more is surely a mistake. */
#define COUNT_MAX 10000

/* A reference from resource `from` to resource `to`; seq orders a
 * resource's references as they appear in its block. */
struct dep_edge {
    uint32_t from, to, seq;
};

struct ref_walk;
struct deferred_ref;

/* A reference that involves a local (see finish_locals): from a local to
 * a local or a resource, from a resource to a local, or from a place that
 * may not refer to resources (`what`) to a local. */
enum local_ref_kind { LREF_LOCAL_LOCAL, LREF_LOCAL_RESOURCE, LREF_RESOURCE_LOCAL, LREF_GUARD };
struct local_ref {
    enum local_ref_kind kind;
    uint32_t from, to, seq;
    const char *what;   /* LREF_GUARD: ref_walk.no_resources */
    struct src_loc loc; /* LREF_GUARD: the reference */
};

struct loader {
    struct config *cfg;
    const struct config_opts *opts;
    struct diag_list *diags; /* where checks report: `checks` while files are parsed */
    struct diag_list *parse_diags;
    struct diag_list checks; /* reported only when the files parse without errors */
    struct errbuf *err;
    char *base_dir;
    int rc;                 /* the first failure in a parse hook (out of memory) */
    size_t rcap, vcap;      /* capacities of cfg->resources and cfg->vars */
    struct dep_edge *edges; /* references between resources, turned into deps */
    size_t nedges, edges_cap;
    bool edges_sorted; /* by (from, seq) */
    uint32_t seq;
    size_t lcap;         /* capacity of cfg->locals */
    size_t ocap;         /* capacity of cfg->outputs */
    struct module_call { /* module blocks, in the order they are found */
        const struct ast_block *b;
        const struct cfg_module *scope; /* the module that calls (NULL: root) */
    } * calls;
    size_t ncalls, calls_cap, mcap, ccap;
    struct module_src { /* a module directory's files, parsed once */
        char *realdir;
        struct ast_file *files;
        bool failed;
    } * srcs;
    size_t nsrcs;
    char *root_realdir;
    bool vars_bound;
    bool quiet;              /* registering a module's second or later instance */
    struct local_ref *lrefs; /* references that involve locals */
    size_t nlrefs, lrefs_cap;
    struct deferred_ref *deferred; /* references to names not declared yet */
    size_t ndeferred, deferred_cap;
    const struct ast_expr **consts; /* see walk_expr */
    size_t nconsts, consts_cap;
    const char *kinds_seen[16]; /* block types found in opts->kinds (interned names) */
    size_t nkinds_seen;
    struct ref_memo {
        const struct cfg_module *scope;
        const char *kind, *name; /* interned names of a reference's target */
        uint32_t idx;            /* the resource's index + 1; 0: empty */
    } memo[256];
    /* an instance's own sensitive paths while its body is evaluated: kept
     * for the next instance unless this one has some (eval_instances) */
    json_t *paths;
    /* lazy_tags with the resolver's instance_id: per resource, whether
     * another resource reads it (its instances' values are made as they are
     * evaluated); NULL: every one's is */
    unsigned char *read_by_others;
};

static bool in_list(const char *const *list, const char *s)
{
    for (; list && *list; list++)
        if ((*list)[0] == s[0] && strcmp(*list, s) == 0)
            return true;
    return false;
}

/* A doubling array's next allocation (16 items first): items grown to
 * twice *cap, which is updated; NULL (items unchanged) when out of memory. */
static void *doubled(void *items, size_t *cap, size_t size)
{
    size_t c = *cap ? 2 * *cap : 16;
    void *p = c > SIZE_MAX / size ? NULL : realloc(items, c * size);
    if (p)
        *cap = c;
    return p;
}

static struct diag *error_at(struct loader *ld, const struct src_loc *loc, const char *code,
                             const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static struct diag *error_at(struct loader *ld, const struct src_loc *loc, const char *code,
                             const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return diag_add(ld->diags, DIAG_ERROR, loc, code, "%s", msg);
}

static void hint_nearest(struct diag *d, const char *word, const char *const *cands)
{
    const char *near = suggest_nearest(word, cands, 0);
    if (d && near)
        diag_set_hint(d, "did you mean '%s'?", near);
}

/* --- files ---------------------------------------------------------------- */

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int collect_files(struct loader *ld, char ***out, size_t *n)
{
    const char *path = ld->opts->path;
    struct stat st;
    DIR *d;
    struct dirent *e;
    char **names = NULL;
    size_t cap = 0;

    *n = 0;
    if (stat(path, &st) < 0)
        return errbuf_set(ld->err, AMLSEC_ENOTFOUND, "cannot read '%s': %s", path, strerror(errno));
    if (!S_ISDIR(st.st_mode)) {
        const char *slash = strrchr(path, '/');
        names = malloc(sizeof(*names));
        if (names == NULL || (names[0] = strdup(path)) == NULL) {
            free(names);
            return errbuf_set(ld->err, AMLSEC_ENOMEM, "out of memory");
        }
        ld->base_dir = slash ? strndup(path, (size_t)(slash - path)) : strdup(".");
        *out = names;
        *n = 1;
        return 0;
    }
    ld->base_dir = strdup(path);
    d = opendir(path);
    if (d == NULL)
        return errbuf_set(ld->err, AMLSEC_EIO, "cannot read directory '%s': %s", path,
                          strerror(errno));
    while ((e = readdir(d)) != NULL) {
        size_t len = strlen(e->d_name);
        char *full;
        if (len < 8 || strcmp(e->d_name + len - 7, ".amlsec") != 0 || e->d_name[0] == '.')
            continue;
        if (*n == cap) {
            char **grown;
            cap = cap ? cap * 2 : 8;
            grown = realloc(names, cap * sizeof(*names));
            if (grown == NULL)
                break;
            names = grown;
        }
        if (strcmp(path, ".") == 0)
            full = strdup(e->d_name);
        else if (asprintf(&full, "%s%s%s", path, path[strlen(path) - 1] == '/' ? "" : "/",
                          e->d_name) < 0)
            full = NULL;
        if (full)
            names[(*n)++] = full;
    }
    closedir(d);
    if (*n == 0) {
        free(names);
        return errbuf_set(ld->err, AMLSEC_ENOTFOUND, "no .amlsec files in '%s'", path);
    }
    qsort(names, *n, sizeof(*names), cmp_str);
    *out = names;
    return 0;
}

static struct ast_block *top_block(void *payload, struct ast_block *b);

/* Parses every file, checking each top-level block as it completes (see
 * top_block). What those checks report is kept only when every file
 * parses: after a syntax error, the blocks are incomplete. */
static int parse_all(struct loader *ld)
{
    struct config *cfg = ld->cfg;
    char **names = NULL;
    size_t n = 0;
    int rc;
    struct ast_file **tail = &cfg->files;
    const struct parse_hooks hooks = {
        .top_block = top_block, .payload = ld, .outline = ld->opts->check_only};

    if ((rc = collect_files(ld, &names, &n)) < 0)
        return rc;
    cfg->srcs = calloc(n, sizeof(*cfg->srcs));
    if (cfg->srcs == NULL)
        rc = errbuf_set(ld->err, AMLSEC_ENOMEM, "out of memory");
    for (size_t i = 0; i < n && rc == 0; i++) {
        struct ast_file *af = NULL;
        if ((rc = src_file_load(&cfg->srcs[i], names[i], ld->err)) < 0)
            break;
        cfg->nsrcs++;
        ld->diags = &ld->checks;
        rc = parse_file_hooked(&af, cfg->srcs[i], &cfg->arena, ld->parse_diags,
                               ld->opts->parse_only ? NULL : &hooks);
        ld->diags = ld->parse_diags;
        if (rc == AMLSEC_EPARSE)
            rc = 0; /* reported; keep parsing the other files */
        if (rc == 0 && ld->rc < 0)
            rc = ld->rc;
        if (af) {
            *tail = af;
            tail = &af->next;
        }
    }
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    if (ld->parse_diags->errors || ld->parse_diags->dropped)
        diag_list_release(&ld->checks);
    else
        diag_list_append(ld->parse_diags, &ld->checks);
    return rc;
}

/* --- resource index --------------------------------------------------------- */

/* Open addressing over resource indices: `slots` finds a resource by
 * (existing, kind, name); `kinds` lists the first resource of each kind
 * (a configuration uses a few dozen kinds at most). */
struct cfg_index {
    uint64_t *slots; /* the key's hash << 32 | resource index + 1; 0 = empty */
    size_t mask;     /* capacity - 1 (a power of two) */
    size_t n;
    struct index_kind {
        const char *kind;
        bool existing;
        uint32_t first;
    } * kinds;
    size_t nkinds, kinds_cap;
    /* a kind or name holds '.' or '[': addresses are not split reliably */
    bool odd_names;
    struct strmap calls; /* "SCOPE PATH\x1fNAME" -> the call's index in cfg->calls */
    struct strmap paths; /* a module instance's path -> its index in cfg->modules */
    /* entries the module and address look-ups visited, deps compared */
    size_t work;
};

static uint32_t hash_key(const struct cfg_module *m, bool existing, const char *kind,
                         const char *name)
{
    uint64_t h = hash_bytes(kind, strlen(kind), existing + ((uintptr_t)m << 1));
    h = hash_bytes(name, strlen(name), h);
    return (uint32_t)(h ^ (h >> 32));
}

/* Names are mostly interned by the lexer: equal pointers are the common hit. */
static bool same_str(const char *a, const char *b)
{
    return a == b || strcmp(a, b) == 0;
}

/* Finds the resource by (existing, kind, name) whose key hashes to h, or
 * returns -1. */
static long index_find_hashed(const struct config *cfg, uint32_t h, const struct cfg_module *m,
                              bool existing, const char *kind, const char *name)
{
    const struct cfg_index *ix = cfg->index;
    if (ix->slots == NULL)
        return -1;
    for (size_t i = h & ix->mask;; i = (i + 1) & ix->mask) {
        const struct cfg_resource *r;
        uint64_t slot = ix->slots[i];
        if (slot == 0)
            return -1;
        if ((uint32_t)(slot >> 32) != h)
            continue;
        r = &cfg->resources[(uint32_t)slot - 1];
        if (r->existing == existing && r->module == m && same_str(r->kind, kind) &&
            same_str(r->name, name))
            return (long)(uint32_t)slot - 1;
    }
}

/* Finds the resource (name NULL: the first resource of the kind, in any
 * module), or -1. */
static long index_find(const struct config *cfg, const struct cfg_module *m, bool existing,
                       const char *kind, const char *name)
{
    const struct cfg_index *ix = cfg->index;
    if (name)
        return index_find_hashed(cfg, hash_key(m, existing, kind, name), m, existing, kind, name);
    for (size_t i = 0; i < ix->nkinds; i++)
        if (ix->kinds[i].existing == existing && same_str(ix->kinds[i].kind, kind))
            return ix->kinds[i].first;
    return -1;
}

static void index_put(struct cfg_index *ix, uint64_t slot)
{
    size_t i = (uint32_t)(slot >> 32) & ix->mask;
    while (ix->slots[i])
        i = (i + 1) & ix->mask;
    ix->slots[i] = slot;
}

/* Adds resources[idx], whose key hashes to h and is not in the index yet;
 * the table grows to keep the load under one half. */
static int index_add(struct config *cfg, size_t idx, uint32_t h)
{
    struct cfg_index *ix = cfg->index;
    const struct cfg_resource *r = &cfg->resources[idx];
    if (ix->slots == NULL || 2 * (ix->n + 1) > ix->mask + 1) {
        size_t cap = ix->slots ? 2 * (ix->mask + 1) : 64;
        uint64_t *old = ix->slots, *slots = calloc(cap, sizeof(*slots));
        size_t old_cap = old ? ix->mask + 1 : 0;
        if (slots == NULL)
            return AMLSEC_ENOMEM;
        ix->slots = slots;
        ix->mask = cap - 1;
        for (size_t i = 0; i < old_cap; i++)
            if (old[i])
                index_put(ix, old[i]);
        free(old);
    }
    index_put(ix, (uint64_t)h << 32 | (uint64_t)(idx + 1));
    ix->n++;
    if (index_find(cfg, NULL, r->existing, r->kind, NULL) < 0) {
        if (ix->nkinds == ix->kinds_cap) {
            struct index_kind *k = doubled(ix->kinds, &ix->kinds_cap, sizeof(*k));
            if (k == NULL)
                return AMLSEC_ENOMEM;
            ix->kinds = k;
        }
        ix->kinds[ix->nkinds++] = (struct index_kind){r->kind, r->existing, (uint32_t)idx};
    }
    if (strpbrk(r->kind, ".[") || strpbrk(r->name, ".["))
        ix->odd_names = true;
    return 0;
}

static struct cfg_index *index_new(void)
{
    struct cfg_index *ix = calloc(1, sizeof(*ix));
    if (ix)
        strmap_init(&ix->calls, false);
    if (ix)
        strmap_init(&ix->paths, false);
    return ix;
}

/* The key of a call in the index: the calling module's path and the
 * call's name (a path holds no \x1f). NULL: out of memory. */
static char *call_key(const struct cfg_module *scope, const char *name)
{
    char *key = NULL;
    if (asprintf(&key, "%s\x1f%s", scope ? scope->path : "", name) < 0)
        return NULL;
    return key;
}

static void index_free(struct cfg_index *ix)
{
    if (ix == NULL)
        return;
    free(ix->slots);
    free(ix->kinds);
    strmap_release(&ix->calls);
    strmap_release(&ix->paths);
    free(ix);
}

/* --- structure ------------------------------------------------------------ */

static bool name_is_identifier(const char *s)
{
    if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || *s == '_'))
        return false;
    for (s++; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              *s == '_' || *s == '-'))
            return false;
    return true;
}

/* shape: how the block is written, for the hint; NULL: a resource's
 * `TYPE "NAME" { ... }`. */
static bool check_labels(struct loader *ld, const struct ast_block *b, size_t want,
                         const char *needs, const char *shape)
{
    if (b->nlabels == want) {
        for (const struct ast_label *l = b->labels; l; l = l->next) {
            /* existing TYPE "NAME": the type is bare, names are quoted */
            if (l->text[0] == '\0') {
                error_at(ld, &l->loc, "label", "a block name cannot be empty");
                return false;
            }
            /* a name becomes part of addresses (TYPE.NAME, module.NAME.…)
             * that the state, -target and state mv read back */
            if (!name_is_identifier(l->text)) {
                error_at(ld, &l->loc, "label",
                         "'%.200s' is not a valid name: a name starts with a letter or '_' and "
                         "holds only letters, digits, '_' and '-'",
                         l->text);
                return false;
            }
        }
        return true;
    }
    {
        struct diag *d = error_at(ld, b->nlabels ? &b->labels->loc : &b->type_loc, "label",
                                  "'%s' block needs %s", b->type, needs);
        if (d && shape)
            diag_set_hint(d, "write it as: %s", shape);
        else if (d)
            diag_set_hint(d, "write it as: %s \"NAME\" { ... }", b->type);
    }
    return false;
}

static void duplicate(struct loader *ld, const struct ast_block *b, const struct ast_block *first,
                      const char *what)
{
    struct diag *d = error_at(ld, &b->type_loc, "duplicate", "duplicate %s", what);
    diag_add_note(d, &first->type_loc, "first defined here");
}

static const char *const *known_kinds(struct loader *ld)
{
    return ld->opts->kinds;
}

/* Whether a block type is a resource kind. Types are interned names, so
 * the few kinds a configuration uses are remembered by address. */
static bool known_kind(struct loader *ld, const char *type)
{
    for (size_t i = 0; i < ld->nkinds_seen; i++)
        if (ld->kinds_seen[i] == type)
            return true;
    if (known_kinds(ld) && !in_list(known_kinds(ld), type))
        return false;
    if (ld->nkinds_seen < sizeof(ld->kinds_seen) / sizeof(ld->kinds_seen[0]))
        ld->kinds_seen[ld->nkinds_seen++] = type;
    return true;
}

static void check_unknown_top(struct loader *ld, const struct ast_block *b)
{
    const char *const *kinds = known_kinds(ld);
    const char *cands[256];
    size_t n = 0;
    struct diag *d;
    for (size_t i = 0; top_keywords[i] && n < 255; i++)
        cands[n++] = top_keywords[i];
    for (size_t i = 0; kinds && kinds[i] && n < 255; i++)
        cands[n++] = kinds[i];
    cands[n] = NULL;
    d = error_at(ld, &b->type_loc, "unknown-block", "unknown block type '%s'", b->type);
    hint_nearest(d, b->type, cands);
}

/* Returns the new resource's index, or -1 (a duplicate, or out of memory:
 * ld->rc). */
static long add_resource(struct loader *ld, const struct cfg_module *m, const struct ast_block *b,
                         bool existing, const char *kind, const char *name)
{
    struct config *cfg = ld->cfg;
    struct cfg_resource *r;
    uint32_t h = hash_key(m, existing, kind, name);
    long prev;

    if (cfg->index == NULL && (cfg->index = index_new()) == NULL) {
        ld->rc = errbuf_set(ld->err, AMLSEC_ENOMEM, "out of memory");
        return -1;
    }
    if ((prev = index_find_hashed(cfg, h, m, existing, kind, name)) >= 0) {
        char what[256];
        const struct cfg_implicit *im = cfg->resources[prev].implicit;
        snprintf(what, sizeof(what), "%s%s \"%s\"", existing ? "existing " : "", kind, name);
        if (im) {
            /* declared by an attribute of an earlier block (add_implicit) */
            const struct ast_attr *a = ast_body_attr(&cfg->resources[prev].block->body, im->attr);
            struct src_loc nl = a ? ast_attr_name_loc(a) : cfg->resources[prev].block->type_loc;
            struct diag *d = error_at(ld, &b->type_loc, "duplicate",
                                      "duplicate %s: %s.%s's %s declares it already", what,
                                      im->kind, name, im->attr);
            diag_add_note(d, &nl, "declared here");
            if (d)
                diag_set_hint(d, "keep one of the two: remove %s or this block", im->attr);
            return -1;
        }
        duplicate(ld, b, cfg->resources[prev].block, what);
        return -1;
    }
    if (cfg->nresources == ld->rcap) {
        struct cfg_resource *grown;
        size_t cap = ld->rcap ? ld->rcap * 2 : 64;
        grown = realloc(cfg->resources, cap * sizeof(*grown));
        if (grown == NULL || cap > UINT32_MAX) {
            ld->rc = errbuf_set(ld->err, AMLSEC_ENOMEM, "out of memory");
            return -1;
        }
        cfg->resources = grown;
        ld->rcap = cap;
    }
    r = &cfg->resources[cfg->nresources++];
    memset(r, 0, sizeof(*r));
    r->kind = kind;
    r->name = name;
    r->existing = existing;
    r->block = b;
    r->module = m;
    if (m) {
        r->address = arena_printf(&cfg->arena, "%s.%s%s.%s", m->path, existing ? "existing." : "",
                                  kind, name);
    } else {
        /* "[existing.]KIND.NAME", without printf: one per resource */
        size_t lk = strlen(kind), ln = strlen(name), pre = existing ? 9 : 0;
        char *a = arena_alloc_align(&cfg->arena, pre + lk + ln + 2, 1);
        if (a) {
            memcpy(a, "existing.", pre);
            memcpy(a + pre, kind, lk);
            a[pre + lk] = '.';
            memcpy(a + pre + lk + 1, name, ln + 1);
        }
        r->address = a;
    }
    if (r->address == NULL || index_add(cfg, cfg->nresources - 1, h) < 0) {
        ld->rc = errbuf_set(ld->err, AMLSEC_ENOMEM, "out of memory");
        return -1;
    }
    return (long)cfg->nresources - 1;
}

/* --- locals ---------------------------------------------------------------- */

static uint32_t hash_node(const struct cfg_module *scope, char ns, const char *name)
{
    uint64_t h = hash_bytes(name, strlen(name), ((uintptr_t)scope << 8) + (unsigned char)ns);
    return (uint32_t)(h ^ (h >> 32));
}

struct cfg_local *config_find_node(const struct config *cfg, const struct cfg_module *scope,
                                   char ns, const char *name)
{
    if (cfg->local_slots == NULL)
        return NULL;
    for (size_t i = hash_node(scope, ns, name) & cfg->local_mask;; i = (i + 1) & cfg->local_mask) {
        uint32_t slot = cfg->local_slots[i];
        const struct cfg_local *l;
        if (slot == 0)
            return NULL;
        l = &cfg->locals[slot - 1];
        if (l->scope == scope && l->ns == ns && same_str(l->name, name))
            return &cfg->locals[slot - 1];
    }
}

struct cfg_local *config_find_local(const struct config *cfg, const char *name)
{
    return config_find_node(cfg, NULL, 'l', name);
}

/* Puts locals[idx] in the name index, growing it to keep the load under
 * one half. */
static int local_index_add(struct config *cfg, size_t idx)
{
    if (cfg->local_slots == NULL || 2 * (idx + 1) > cfg->local_mask + 1) {
        size_t cap = cfg->local_slots ? 2 * (cfg->local_mask + 1) : 16;
        uint32_t *slots = calloc(cap, sizeof(*slots));
        if (slots == NULL)
            return AMLSEC_ENOMEM;
        free(cfg->local_slots);
        cfg->local_slots = slots;
        cfg->local_mask = cap - 1;
        for (size_t k = 0; k < idx; k++) {
            const struct cfg_local *l = &cfg->locals[k];
            size_t i = hash_node(l->scope, l->ns, l->name) & cfg->local_mask;
            while (slots[i])
                i = (i + 1) & cfg->local_mask;
            slots[i] = (uint32_t)k + 1;
        }
    }
    {
        const struct cfg_local *l = &cfg->locals[idx];
        size_t i = hash_node(l->scope, l->ns, l->name) & cfg->local_mask;
        while (cfg->local_slots[i])
            i = (i + 1) & cfg->local_mask;
        cfg->local_slots[i] = (uint32_t)idx + 1;
    }
    return 0;
}

/* Registers a lazily read value (see struct cfg_local): a local's
 * NAME = expr (ns 'l'), a module's input (the call's attribute, or NULL)
 * or output. Returns its index, or -1 (a duplicate, or out of memory:
 * ld->rc). */
static long add_node(struct loader *ld, const struct cfg_module *scope, char ns, const char *name,
                     const struct ast_attr *a)
{
    struct config *cfg = ld->cfg;
    struct cfg_local *prev = config_find_node(cfg, scope, ns, name), *l;
    if (prev) {
        if (ns == 'l') {
            struct src_loc nl = ast_attr_name_loc(a), fl = ast_attr_name_loc(prev->attr);
            struct diag *d = error_at(ld, &nl, "duplicate", "duplicate local '%s'", a->name);
            diag_add_note(d, &fl, "first defined here");
        }
        return -1;
    }
    if (cfg->nlocals == ld->lcap) {
        struct cfg_local *grown = doubled(cfg->locals, &ld->lcap, sizeof(*grown));
        if (grown == NULL || ld->lcap > UINT32_MAX) {
            ld->rc = errbuf_set(ld->err, AMLSEC_ENOMEM, "out of memory");
            return -1;
        }
        cfg->locals = grown;
    }
    l = &cfg->locals[cfg->nlocals++];
    memset(l, 0, sizeof(*l));
    l->name = name;
    l->ns = ns;
    l->scope = scope;
    l->eval_in = scope;
    l->base_dir = scope ? scope->dir : ld->base_dir;
    l->attr = a;
    if (a == NULL)
        l->state = CFG_LOCAL_FAILED;
    if (local_index_add(cfg, cfg->nlocals - 1) < 0) {
        ld->rc = errbuf_set(ld->err, AMLSEC_ENOMEM, "out of memory");
        return -1;
    }
    return (long)cfg->nlocals - 1;
}

static void add_local_ref(struct loader *ld, const struct local_ref *r)
{
    if (ld->nlrefs == ld->lrefs_cap) {
        struct local_ref *refs = doubled(ld->lrefs, &ld->lrefs_cap, sizeof(*refs));
        if (refs == NULL) {
            ld->rc = errbuf_set(ld->err, AMLSEC_ENOMEM, "out of memory");
            return;
        }
        ld->lrefs = refs;
    }
    ld->lrefs[ld->nlrefs++] = *r;
}

/* Registers one top-level block: the settings block, a variable or a
 * resource (b may be a body-less outline of the block: only its header is
 * kept). Returns the resource's index, or -1 when b declares none. */
static long collect_block(struct loader *ld, const struct cfg_module *scope,
                          const struct ast_block *b)
{
    struct config *cfg = ld->cfg;

    if (strcmp(b->type, "module") == 0) {
        struct module_call *c;
        if (!check_labels(ld, b, 1, "one name", "module \"NAME\" { source = \"./DIR\" ... }"))
            return -1;
        for (size_t i = 0; i < ld->ncalls; i++) {
            if (ld->calls[i].scope == scope &&
                strcmp(ld->calls[i].b->labels->text, b->labels->text) == 0) {
                char what[200];
                snprintf(what, sizeof(what), "module \"%s\"", b->labels->text);
                duplicate(ld, b, ld->calls[i].b, what);
                return -1;
            }
        }
        if (ld->ncalls == ld->calls_cap) {
            struct module_call *grown = doubled(ld->calls, &ld->calls_cap, sizeof(*grown));
            if (grown == NULL) {
                ld->rc = errbuf_set(ld->err, AMLSEC_ENOMEM, "out of memory");
                return -1;
            }
            ld->calls = grown;
        }
        c = &ld->calls[ld->ncalls++];
        c->b = b;
        c->scope = scope;
        return -1;
    }
    if (scope && (strcmp(b->type, "settings") == 0 || strcmp(b->type, "variable") == 0 ||
                  strcmp(b->type, "output") == 0)) {
        /* a module's variables and outputs are registered per instance
         * (instantiate); settings belong to the root */
        if (strcmp(b->type, "settings") == 0) {
            struct diag *d = error_at(ld, &b->type_loc, "module",
                                      "a settings block belongs in the root configuration, not in "
                                      "a module");
            if (d)
                diag_set_hint(d, "pass what the module needs as variables");
        }
        return -1;
    }
    if (strcmp(b->type, "import") == 0 || strcmp(b->type, "moved") == 0) {
        /* read once every resource is known (finish_adoption) */
        if (scope) {
            error_at(ld, &b->type_loc, "module",
                     "%s blocks belong in the root configuration, not in a module", b->type);
            return -1;
        }
        check_labels(ld, b, 0, "no name",
                     b->type[0] == 'i' ? "import { to = TYPE.NAME, id = \"ARM id\" }"
                                       : "moved { from = TYPE.OLD, to = TYPE.NEW }");
        return -1;
    }
    if (strcmp(b->type, "settings") == 0) {
        if (!check_labels(ld, b, 0, "no name", "settings { ... }"))
            return -1;
        if (cfg->settings_block)
            duplicate(ld, b, cfg->settings_block, "settings block");
        else
            cfg->settings_block = b;
    } else if (strcmp(b->type, "variable") == 0) {
        struct cfg_variable *v;
        bool dup = false;
        if (!check_labels(ld, b, 1, "one name", "variable \"NAME\" { ... }"))
            return -1;
        for (size_t i = 0; i < cfg->nvars; i++) {
            if (strcmp(cfg->vars[i].name, b->labels->text) == 0) {
                char what[200];
                snprintf(what, sizeof(what), "variable \"%s\"", b->labels->text);
                duplicate(ld, b, cfg->vars[i].block, what);
                dup = true;
            }
        }
        if (dup)
            return -1;
        if (cfg->nvars == ld->vcap) {
            struct cfg_variable *grown;
            ld->vcap = ld->vcap ? ld->vcap * 2 : 8;
            grown = realloc(cfg->vars, ld->vcap * sizeof(*grown));
            if (grown == NULL) {
                ld->rc = errbuf_set(ld->err, AMLSEC_ENOMEM, "out of memory");
                return -1;
            }
            cfg->vars = grown;
        }
        v = &cfg->vars[cfg->nvars++];
        memset(v, 0, sizeof(*v));
        v->name = b->labels->text;
        v->block = b;
        v->type = "any";
        /* until mark_late_validations knows which validations read resources */
        v->checked_late = ast_body_block(&b->body, "validation") != NULL;
    } else if (strcmp(b->type, "output") == 0) {
        struct cfg_output *o;
        if (!check_labels(ld, b, 1, "one name", "output \"NAME\" { value = ... }"))
            return -1;
        for (size_t i = 0; i < cfg->noutputs; i++) {
            if (strcmp(cfg->outputs[i].name, b->labels->text) == 0) {
                char what[200];
                snprintf(what, sizeof(what), "output \"%s\"", b->labels->text);
                duplicate(ld, b, cfg->outputs[i].block, what);
                return -1;
            }
        }
        if (cfg->noutputs == ld->ocap) {
            struct cfg_output *grown = doubled(cfg->outputs, &ld->ocap, sizeof(*grown));
            if (grown == NULL) {
                ld->rc = errbuf_set(ld->err, AMLSEC_ENOMEM, "out of memory");
                return -1;
            }
            cfg->outputs = grown;
        }
        o = &cfg->outputs[cfg->noutputs++];
        memset(o, 0, sizeof(*o));
        o->name = b->labels->text;
        o->block = b;
    } else if (strcmp(b->type, "locals") == 0) {
        /* its names are registered and walked by top_block */
        if (!check_labels(ld, b, 0, "no name", "locals { NAME = VALUE ... }"))
            return -1;
        for (const struct ast_block *k = b->body.blocks; k; k = k->next) {
            struct diag *d = error_at(ld, &k->type_loc, "locals",
                                      "a locals block holds only NAME = VALUE lines");
            if (d)
                diag_set_hint(d, "write a map as NAME = { key = VALUE }");
        }
    } else if (strcmp(b->type, "existing") == 0) {
        if (!check_labels(ld, b, 2, "a type and a name", "existing TYPE \"NAME\" { ... }"))
            return -1;
        return add_resource(ld, scope, b, true, b->labels->text, b->labels->next->text);
    } else if (!known_kind(ld, b->type)) {
        check_unknown_top(ld, b);
    } else {
        if (!check_labels(ld, b, 1, "one name", NULL))
            return -1;
        return add_resource(ld, scope, b, false, b->type, b->labels->text);
    }
    return -1;
}

/* --- references ----------------------------------------------------------- */

struct ref_walk {
    struct loader *ld;
    long from;                       /* the resource's index; -1 outside resources */
    const struct cfg_module *module; /* the module whose names are read (NULL: root) */
    bool quiet;                      /* a module's second instance: reported once already */
    uint32_t local;                  /* the local's index + 1; 0 outside locals */
    bool no_locals;                  /* variables: bound before locals exist */
    const char *no_resources;        /* see eval_ctx */
    bool has_each;
    bool has_count;
    /* Every name is declared by now: a reference to an unknown one is an
     * error. Before (while files are parsed), it waits in ld->deferred. */
    bool final;
    uint32_t seq;                   /* a deferred reference's place among its block's (0: now) */
    const struct eval_scope *scope; /* enclosing for expressions' variables (values unused) */
    const char *self_var;           /* a validation's variable: self_seen when read */
    bool self_seen;
    /* probe: only notes what the expression reads (no check, no record):
     * probe_phase is the validation phase it needs (see validation_phase) */
    bool probe;
    int probe_phase;
};

struct deferred_ref {
    struct ref_walk w;
    const struct ast_expr *e; /* a copy of the traversal, without index expressions */
};

static void add_dep(struct loader *ld, const struct ref_walk *w, size_t to)
{
    struct dep_edge *e;
    if (ld->nedges == ld->edges_cap) {
        struct dep_edge *edges = doubled(ld->edges, &ld->edges_cap, sizeof(*edges));
        if (edges == NULL) {
            ld->rc = errbuf_set(ld->err, AMLSEC_ENOMEM, "out of memory");
            return;
        }
        ld->edges = edges;
    }
    e = &ld->edges[ld->nedges++];
    e->from = (uint32_t)w->from;
    e->to = (uint32_t)to;
    e->seq = w->seq ? w->seq : ++ld->seq;
    if (ld->nedges > 1 && e->from < e[-1].from)
        ld->edges_sorted = false;
}

static int cmp_edge(const void *a, const void *b)
{
    const struct dep_edge *x = a, *y = b;
    if (x->from != y->from)
        return x->from < y->from ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* Turns the edges into each resource's deps, in the order its block
 * refers to them, without repeats (told by the last resource given each
 * target: a scan of the deps so far was n^2 / 2 for a block reading
 * module.team[each.key] of n instances, 1.25 billion at 50,000). */
static int build_deps(struct loader *ld)
{
    struct config *cfg = ld->cfg;
    uint32_t *last_from = calloc(cfg->nresources + 1, sizeof(*last_from));
    if (last_from == NULL)
        return errbuf_set(ld->err, AMLSEC_ENOMEM, "out of memory");
    if (!ld->edges_sorted)
        qsort(ld->edges, ld->nedges, sizeof(*ld->edges), cmp_edge);
    for (size_t i = 0; i < ld->nedges;) {
        size_t end = i;
        struct cfg_resource *r = &cfg->resources[ld->edges[i].from];
        while (end < ld->nedges && ld->edges[end].from == ld->edges[i].from)
            end++;
        r->deps = arena_alloc_align(&cfg->arena, (end - i) * sizeof(*r->deps),
                                    _Alignof(struct cfg_resource *));
        if (r->deps == NULL) {
            free(last_from);
            return errbuf_set(ld->err, AMLSEC_ENOMEM, "out of memory");
        }
        for (; i < end; i++) {
            uint32_t to = ld->edges[i].to;
            if (cfg->index)
                cfg->index->work++;
            if (last_from[to] == ld->edges[i].from + 1)
                continue;
            last_from[to] = ld->edges[i].from + 1;
            r->deps[r->ndeps++] = &cfg->resources[to];
        }
    }
    free(last_from);
    free(ld->edges);
    ld->edges = NULL;
    ld->nedges = ld->edges_cap = 0;
    return 0;
}

/* A reference to a name not declared yet: checked again once every file is
 * read. The copy outlives the block's body (config_opts.check_only). */
static void defer_ref(struct ref_walk *w, const struct ast_expr *e)
{
    struct loader *ld = w->ld;
    struct arena *a = &ld->cfg->arena;
    struct ast_expr *c = arena_alloc_align(a, sizeof(*c), _Alignof(struct ast_expr));
    struct ast_step **tail;
    struct deferred_ref *d;

    if (c == NULL)
        goto oom;
    c->kind = EXPR_TRAVERSAL;
    c->loc = e->loc;
    c->u.trav.root = e->u.trav.root; /* names are interned: they outlive bodies */
    c->u.trav.n = e->u.trav.n;
    tail = &c->u.trav.steps;
    for (const struct ast_step *s = e->u.trav.steps; s; s = s->next) {
        struct ast_step *cs = arena_alloc_align(a, sizeof(*cs), _Alignof(struct ast_step));
        if (cs == NULL)
            goto oom;
        cs->kind = s->kind;
        cs->loc = s->loc;
        if (s->kind == STEP_ATTR)
            cs->name = s->name;
        *tail = cs;
        tail = &cs->next;
    }
    if (ld->ndeferred == ld->deferred_cap) {
        struct deferred_ref *refs = doubled(ld->deferred, &ld->deferred_cap, sizeof(*refs));
        if (refs == NULL)
            goto oom;
        ld->deferred = refs;
    }
    d = &ld->deferred[ld->ndeferred++];
    d->w = *w;
    d->w.scope = NULL; /* on the walker's stack; the root was not one of its names */
    d->w.final = true;
    d->w.quiet = ld->quiet;
    d->w.seq = ++ld->seq;
    d->e = c;
    return;
oom:
    ld->rc = errbuf_set(ld->err, AMLSEC_ENOMEM, "out of memory");
}

static void resource_names(const struct config *cfg, bool existing, const char *kind,
                           const char **out, size_t max)
{
    size_t n = 0;
    for (size_t i = 0; i < cfg->nresources && n + 1 < max; i++)
        if (cfg->resources[i].existing == existing &&
            (kind == NULL || strcmp(cfg->resources[i].kind, kind) == 0))
            out[n++] = kind ? cfg->resources[i].name : cfg->resources[i].kind;
    out[n] = NULL;
}

/* config_find for references: blocks refer to the same few resources over
 * and over with the same interned names, so the last resource found for a
 * pair of name addresses is remembered (resources are never removed). */
static struct cfg_resource *find_target(struct loader *ld, const struct cfg_module *scope,
                                        bool existing, const char *kind, const char *name)
{
    uintptr_t k = ((uintptr_t)kind >> 3) * 31 + ((uintptr_t)name >> 3) + existing;
    struct ref_memo *m = &ld->memo[(k ^ (k >> 8)) & 255];
    struct cfg_resource *r;
    if (m->idx && m->kind == kind && m->name == name && m->scope == scope &&
        ld->cfg->resources[m->idx - 1].existing == existing)
        return &ld->cfg->resources[m->idx - 1];
    r = config_find_in(ld->cfg, scope, existing, kind, name);
    if (r) {
        m->scope = scope;
        m->kind = kind;
        m->name = name;
        m->idx = (uint32_t)(r - ld->cfg->resources) + 1;
    }
    return r;
}

/* Records a reference to a lazily read value (a local, a module's input or
 * output) for finish_locals. */
static void ref_node(struct ref_walk *w, const struct ast_expr *e, const struct cfg_local *l)
{
    struct loader *ld = w->ld;
    struct local_ref r = {.to = (uint32_t)(l - ld->cfg->locals),
                          .seq = w->seq ? w->seq : ++ld->seq};
    if (w->no_resources) {
        r.kind = LREF_GUARD;
        r.what = w->no_resources;
        r.loc = e->loc;
        add_local_ref(ld, &r);
    } else if (w->from >= 0) {
        r.kind = LREF_RESOURCE_LOCAL;
        r.from = (uint32_t)w->from;
        add_local_ref(ld, &r);
    } else if (w->local) {
        r.kind = LREF_LOCAL_LOCAL;
        r.from = w->local - 1;
        r.loc = e->loc;
        add_local_ref(ld, &r);
    }
}

/* module.NAME.OUTPUT, module.NAME["key"].OUTPUT (a module with for_each),
 * or module.NAME alone (every output): a reference to the outputs of the
 * instances of the call NAME made from w->module. */
static void check_module_ref(struct ref_walk *w, const struct ast_expr *e)
{
    struct loader *ld = w->ld;
    struct config *cfg = ld->cfg;
    const struct ast_step *s = e->u.trav.steps;
    const struct cfg_module *first = NULL;
    const struct cfg_call *call;
    const char *cands[512];
    const char *name;
    size_t n = 0;
    struct diag *d;

    if (s == NULL || s->kind != STEP_ATTR) {
        error_at(ld, &e->loc, "reference", "expected module.NAME.OUTPUT");
        return;
    }
    name = s->name;
    s = s->next;
    call = config_find_call(cfg, w->module, name);
    if (call && call->n)
        first = cfg->modules[call->first];
    if (first == NULL) {
        bool called = false;
        for (size_t i = 0; i < ld->ncalls; i++)
            called |=
                ld->calls[i].scope == w->module && strcmp(ld->calls[i].b->labels->text, name) == 0;
        if (!w->final) {
            defer_ref(w, e);
            return;
        }
        if (called)
            return; /* a call without instances (an error, or an empty for_each) */
        d = error_at(ld, &e->loc, "unknown-module", "undeclared module '%s'", name);
        for (size_t i = 0; i < ld->ncalls && n < 511; i++)
            if (ld->calls[i].scope == w->module)
                cands[n++] = ld->calls[i].b->labels->text;
        cands[n] = NULL;
        hint_nearest(d, name, cands);
        return;
    }
    if (first->has_count && s && s->kind == STEP_ATTR) {
        d = error_at(ld, &s->loc, "reference",
                     "module '%s' has count: module.%s is a list of its instances", name, name);
        if (d)
            diag_set_hint(d, "pick one, module.%s[0].%s, or read every one, module.%s[*].%s", name,
                          s->name, name, s->name);
        return;
    }
    if ((first->has_for_each || first->has_count) && s && s->kind == STEP_INDEX)
        s = s->next;
    else if ((first->has_for_each || first->has_count) && s && s->kind == STEP_SPLAT)
        s = NULL; /* module.NAME[*].OUTPUT: checked when evaluated */
    if (s && s->kind != STEP_ATTR) {
        error_at(ld, &s->loc, "reference", "expected module.%s%s.OUTPUT", name,
                 first->has_for_each ? "[KEY]"
                 : first->has_count  ? "[INDEX]"
                                     : "");
        return;
    }
    if (s && config_find_node(cfg, first, 'o', s->name) == NULL) {
        d = error_at(ld, &s->loc, "unknown-output", "module '%s' has no output '%s'", name,
                     s->name);
        for (size_t i = 0; i < cfg->nlocals && n < 511; i++)
            if (cfg->locals[i].scope == first && cfg->locals[i].ns == 'o')
                cands[n++] = cfg->locals[i].name;
        cands[n] = NULL;
        hint_nearest(d, s->name, cands);
        return;
    }
    /* every instance: which one an index picks is known only when evaluated */
    for (size_t i = 0; i < call->n; i++) {
        const struct cfg_module *m = cfg->modules[call->first + i];
        if (s) {
            const struct cfg_local *l = config_find_node(cfg, m, 'o', s->name);
            if (l)
                ref_node(w, e, l);
        } else {
            for (size_t k = 0; k < cfg->nlocals; k++)
                if (cfg->locals[k].scope == m && cfg->locals[k].ns == 'o')
                    ref_node(w, e, &cfg->locals[k]);
        }
    }
}

/* local.NAME (ns 'l') or, in a module, var.NAME ('v'): a lazily read
 * value of w->module. */
static void check_node_ref(struct ref_walk *w, const struct ast_expr *e, char ns)
{
    struct loader *ld = w->ld;
    struct config *cfg = ld->cfg;
    const struct ast_step *s = e->u.trav.steps;
    const char *cands[512];
    const struct cfg_local *l;
    size_t n = 0;
    struct diag *d;

    if (s == NULL || s->kind != STEP_ATTR) {
        error_at(ld, &e->loc, "reference", "expected %s.NAME", ns == 'l' ? "local" : "var");
        return;
    }
    l = config_find_node(cfg, w->module, ns, s->name);
    if (l == NULL && !w->final) {
        defer_ref(w, e);
        return;
    }
    if (l) {
        ref_node(w, e, l);
        return;
    }
    d = ns == 'l' ? error_at(ld, &e->loc, "unknown-local", "undeclared local '%s'", s->name)
                  : error_at(ld, &e->loc, "unknown-variable", "undeclared variable '%s'", s->name);
    for (size_t i = 0; i < cfg->nlocals && n < 511; i++)
        if (cfg->locals[i].scope == w->module && cfg->locals[i].ns == ns)
            cands[n++] = cfg->locals[i].name;
    cands[n] = NULL;
    hint_nearest(d, s->name, cands);
    if (d && d->hint == NULL && ns == 'l')
        diag_set_hint(d, "declare it with: locals { %s = VALUE }", s->name);
    else if (d && d->hint == NULL)
        diag_set_hint(d, "declare it in the module with: variable \"%s\" { }", s->name);
}

/* When a variable's validation can run (validation_phase): 0 once the
 * root's variables are bound (it reads only them), 1 once instances are
 * expanded (it reads locals, settings, a module's inputs: values read
 * lazily), 2 once resources are evaluated (it reads a resource, directly
 * or through them, or a module's outputs). */
static void probe_traversal(struct ref_walk *w, const struct ast_expr *e)
{
    const char *root = e->u.trav.root;
    const struct ast_step *s = e->u.trav.steps;
    const struct cfg_local *node = NULL;
    int phase = 2;
    if (strcmp(root, "each") == 0 || strcmp(root, "count") == 0 ||
        (strcmp(root, "var") == 0 && w->module == NULL))
        phase = 0;
    else if (strcmp(root, "settings") == 0)
        phase = 1;
    else if ((strcmp(root, "local") == 0 || strcmp(root, "var") == 0) && s &&
             s->kind == STEP_ATTR &&
             (node = config_find_node(w->ld->cfg, w->module, root[0] == 'l' ? 'l' : 'v',
                                      s->name)) != NULL)
        phase = node->needs_resources ? 2 : 1;
    if (phase > w->probe_phase)
        w->probe_phase = phase;
}

static void check_traversal(struct ref_walk *w, const struct ast_expr *e)
{
    struct loader *ld = w->ld;
    struct config *cfg = ld->cfg;
    const char *root = e->u.trav.root;
    const struct ast_step *s = e->u.trav.steps;
    const char *cands[512];
    struct diag *d;

    for (const struct eval_scope *sc = w->scope; sc; sc = sc->up)
        if (strcmp(sc->name, root) == 0)
            return; /* a for expression's variable */
    if (w->probe) {
        probe_traversal(w, e);
        return;
    }
    if (w->scope && s == NULL) {
        /* a bare name inside a for expression: only its variables are */
        size_t n = 0;
        struct src_loc rl = ast_trav_root_loc(e);
        for (const struct eval_scope *sc = w->scope; sc && n < 511; sc = sc->up)
            cands[n++] = sc->name;
        cands[n] = NULL;
        hint_nearest(error_at(ld, &rl, "unknown-reference", "unknown name '%s'", root), root,
                     cands);
        return;
    }
    if (w->self_var && root[0] == 'v' && strcmp(root, "var") == 0 && s && s->kind == STEP_ATTR &&
        strcmp(s->name, w->self_var) == 0)
        w->self_seen = true;
    /* most references name a resource: one byte rules out each keyword */
    if (root[0] == 'v' && strcmp(root, "var") == 0 && w->module) {
        /* a module's variables are its inputs, read lazily */
        check_node_ref(w, e, 'v');
        return;
    }
    if (root[0] == 'm' && strcmp(root, "module") == 0) {
        check_module_ref(w, e);
        return;
    }
    if (root[0] == 'v' && strcmp(root, "var") == 0) {
        if (s == NULL || s->kind != STEP_ATTR) {
            error_at(ld, &e->loc, "reference", "expected var.NAME");
            return;
        }
        for (size_t i = 0; i < cfg->nvars; i++)
            if (strcmp(cfg->vars[i].name, s->name) == 0)
                return;
        if (!w->final) {
            defer_ref(w, e);
            return;
        }
        d = error_at(ld, &e->loc, "unknown-variable", "undeclared variable '%s'", s->name);
        {
            size_t n = 0;
            for (size_t i = 0; i < cfg->nvars && n < 511; i++)
                cands[n++] = cfg->vars[i].name;
            cands[n] = NULL;
            hint_nearest(d, s->name, cands);
            if (d && d->hint == NULL)
                diag_set_hint(d, "declare it with: variable \"%s\" { type = string }", s->name);
        }
        return;
    }
    if (root[0] == 'l' && strcmp(root, "local") == 0) {
        if (w->no_locals && s && s->kind == STEP_ATTR)
            error_at(ld, &e->loc, "reference", "%s cannot refer to locals", w->no_resources);
        else
            check_node_ref(w, e, 'l');
        return;
    }
    if (root[0] == 's' && strcmp(root, "settings") == 0) {
        if (s == NULL || s->kind != STEP_ATTR)
            error_at(ld, &e->loc, "reference", "expected settings.NAME");
        else if (!in_list(settings_attrs, s->name))
            hint_nearest(error_at(ld, &s->loc, "unknown-setting", "unknown setting '%s'", s->name),
                         s->name, settings_attrs);
        return;
    }
    if (root[0] == 'c' && strcmp(root, "count") == 0) {
        if (!w->has_count)
            error_at(ld, &e->loc, "count", "'count' can only be used in a block with count");
        else if (s == NULL || s->kind != STEP_ATTR || strcmp(s->name, "index") != 0)
            error_at(ld, &e->loc, "count", "expected count.index");
        return;
    }
    if (root[0] == 'e' && strcmp(root, "each") == 0) {
        if (!w->has_each)
            error_at(ld, &e->loc, "each", "'each' can only be used in a block with for_each");
        else if (s == NULL || s->kind != STEP_ATTR ||
                 (strcmp(s->name, "key") != 0 && strcmp(s->name, "value") != 0))
            error_at(ld, &e->loc, "each", "expected each.key or each.value");
        return;
    }
    {
        bool existing = root[0] == 'e' && strcmp(root, "existing") == 0;
        const char *kind = root;
        struct cfg_resource *target;
        bool kind_known = false;
        if (existing) {
            if (s == NULL || s->kind != STEP_ATTR) {
                error_at(ld, &e->loc, "reference", "expected existing.TYPE.NAME");
                return;
            }
            kind = s->name;
            s = s->next;
        }
        /* the common case first: a reference to a declared resource */
        target =
            s && s->kind == STEP_ATTR ? find_target(ld, w->module, existing, kind, s->name) : NULL;
        if (target == NULL && !w->final) {
            defer_ref(w, e);
            return;
        }
        kind_known = target || (cfg->index && index_find(cfg, NULL, existing, kind, NULL) >= 0);
        if (!kind_known && !existing && !in_list(known_kinds(ld), kind)) {
            size_t n = 0;
            static const char *const roots[] = {"var",      "settings", "each",
                                                "existing", "local",    "module"};
            for (size_t i = 0; i < 6; i++)
                cands[n++] = roots[i];
            for (const struct eval_scope *sc = w->scope; sc && n < 511; sc = sc->up)
                cands[n++] = sc->name;
            for (size_t i = 0; i < cfg->nresources && n < 511; i++)
                if (!cfg->resources[i].existing)
                    cands[n++] = cfg->resources[i].kind;
            cands[n] = NULL;
            struct src_loc rl = ast_trav_root_loc(e);
            d = error_at(ld, &rl, "unknown-reference", "unknown name '%s'", root);
            hint_nearest(d, root, cands);
            return;
        }
        if (s == NULL || s->kind != STEP_ATTR) {
            error_at(ld, &e->loc, "reference", "expected %s%s.NAME", existing ? "existing." : "",
                     kind);
            return;
        }
        if (target == NULL) {
            d = error_at(ld, &e->loc, "unknown-reference", "unknown reference '%s%s.%s'",
                         existing ? "existing." : "", kind, s->name);
            resource_names(cfg, existing, kind, cands, 512);
            hint_nearest(d, s->name, cands);
            if (d && d->hint == NULL && !kind_known)
                diag_set_hint(d, "no %s%s block is declared", existing ? "existing " : "", kind);
            return;
        }
        if (w->no_resources) {
            error_at(ld, &e->loc, "reference",
                     "%s cannot refer to resources: their values are known only after apply",
                     w->no_resources);
            return;
        }
        if (w->from >= 0) {
            add_dep(ld, w, (size_t)(target - cfg->resources));
        } else if (w->local) {
            struct local_ref r = {.kind = LREF_LOCAL_RESOURCE,
                                  .from = w->local - 1,
                                  .to = (uint32_t)(target - cfg->resources)};
            add_local_ref(ld, &r);
        }
    }
}

/* Whether evaluating e could report a type error of its own (an operator,
 * a call, a map's keys, an interpolation, a step on a value: [1][2]). */
static bool typed_node(const struct ast_expr *e)
{
    return e->kind == EXPR_BINARY || (e->kind == EXPR_UNARY && e->u.unary.op != OP_EXPAND) ||
           e->kind == EXPR_COND || e->kind == EXPR_CALL || e->kind == EXPR_MAP ||
           e->kind == EXPR_TEMPLATE || e->kind == EXPR_FOR || e->kind == EXPR_POSTFIX;
}

static bool walk_expr(struct ref_walk *w, const struct ast_expr *e);

/* Names a for expression may not bind: the language's roots and resource
 * kinds, whose references the variable would hide. */
static const char *const reserved_roots[] = {"var",   "settings", "each",   "existing",
                                             "count", "local",    "module", NULL};

/* Checks a for expression's variable name at loc; false after an error. */
static bool check_for_var(struct ref_walk *w, const char *name, const struct src_loc *loc)
{
    struct loader *ld = w->ld;
    struct diag *d;
    if (in_list(reserved_roots, name) ||
        (known_kinds(ld) ? in_list(known_kinds(ld), name)
                         : ld->cfg->index && index_find(ld->cfg, NULL, false, name, NULL) >= 0)) {
        d = error_at(ld, loc, "for",
                     "'%s' cannot name a for expression's variable: it would hide %s", name,
                     in_list(reserved_roots, name) ? "the language's own name" : "a resource kind");
        if (d)
            diag_set_hint(d, "choose another name, such as 'item'");
        return false;
    }
    for (const struct eval_scope *sc = w->scope; sc; sc = sc->up)
        if (strcmp(sc->name, name) == 0) {
            d = error_at(ld, loc, "for",
                         "'%s' is already a variable of an enclosing for expression", name);
            if (d)
                diag_set_hint(d, "choose another name: the inner one would hide the outer one");
            return false;
        }
    return true;
}

/* A for expression: the collection is walked outside its scope, the rest
 * inside it. */
static bool walk_for(struct ref_walk *w, const struct ast_for *f)
{
    struct ref_walk inner = *w;
    struct eval_scope ks = {.up = w->scope, .name = f->key_var};
    struct eval_scope vs = {.name = f->value_var};
    bool constant = walk_expr(w, f->coll);

    if (f->key_var && !check_for_var(w, f->key_var, &f->key_loc))
        return false;
    if (!check_for_var(w, f->value_var, &f->value_loc))
        return false;
    if (f->key_var && strcmp(f->key_var, f->value_var) == 0) {
        error_at(w->ld, &f->value_loc, "for",
                 "the key and the value of a for expression are both named '%s'", f->value_var);
        return false;
    }
    vs.up = f->key_var ? &ks : w->scope;
    inner.scope = &vs;
    constant &= walk_expr(&inner, f->key);
    constant &= walk_expr(&inner, f->value);
    constant &= walk_expr(&inner, f->cond);
    return constant;
}

/* Walks e: checks its references and function names, and returns whether
 * it is constant (no reference, no file()). The largest constant operator
 * subtrees are collected in ld->consts (each replaces those it holds), so
 * that the types of expressions are checked before any value is known. */
static bool walk_expr(struct ref_walk *w, const struct ast_expr *e)
{
    struct loader *ld = w->ld;
    size_t mark = ld->nconsts;
    bool constant = true;

    if (e == NULL)
        return true;
    switch (e->kind) {
    case EXPR_TEMPLATE:
        for (const struct ast_expr *p = e->u.tmpl.parts; p; p = p->next)
            constant &= walk_expr(w, p);
        break;
    case EXPR_LIST:
        for (const struct ast_expr *p = e->u.list.items; p; p = p->next)
            constant &= walk_expr(w, p);
        break;
    case EXPR_MAP:
        for (const struct ast_map_item *m = e->u.map.items; m; m = m->next) {
            constant &= walk_expr(w, m->key);
            constant &= walk_expr(w, m->value);
        }
        break;
    case EXPR_TRAVERSAL:
        check_traversal(w, e);
        for (const struct ast_step *s = e->u.trav.steps; s; s = s->next)
            if (s->kind == STEP_INDEX)
                walk_expr(w, s->index);
        constant = false;
        break;
    case EXPR_CALL:
        if (!in_list(eval_functions, e->u.call.name)) {
            struct src_loc nl = ast_call_name_loc(e);
            hint_nearest(
                error_at(w->ld, &nl, "unknown-function", "unknown function '%s'", e->u.call.name),
                e->u.call.name, eval_functions);
            constant = false;
        } else if (strcmp(e->u.call.name, "file") == 0) {
            constant = false; /* read when the instance is evaluated */
        }
        for (const struct ast_expr *p = e->u.call.args; p; p = p->next)
            constant &= walk_expr(w, p);
        /* try() and can() catch their arguments' errors: nothing inside is
         * evaluated on its own */
        if (strcmp(e->u.call.name, "try") == 0 || strcmp(e->u.call.name, "can") == 0)
            ld->nconsts = mark;
        break;
    case EXPR_COND:
        constant &= walk_expr(w, e->u.cond.cond);
        constant &= walk_expr(w, e->u.cond.then);
        constant &= walk_expr(w, e->u.cond.otherwise);
        break;
    case EXPR_BINARY:
        constant &= walk_expr(w, e->u.binary.lhs);
        constant &= walk_expr(w, e->u.binary.rhs);
        break;
    case EXPR_UNARY:
        constant &= walk_expr(w, e->u.unary.operand);
        break;
    case EXPR_PAREN:
        constant = walk_expr(w, e->u.paren);
        break;
    case EXPR_POSTFIX: /* what the base reads is read: jsondecode(x.y.tags.t).a depends on x.y */
        constant = walk_expr(w, e->u.post.base);
        for (const struct ast_step *s = e->u.post.steps; s; s = s->next)
            if (s->kind == STEP_INDEX)
                constant &= walk_expr(w, s->index);
        break;
    case EXPR_FOR:
        constant = walk_for(w, e->u.forx);
        break;
    default:
        break;
    }
    if (constant && typed_node(e)) {
        ld->nconsts = mark; /* evaluated as part of e */
        if (ld->nconsts == ld->consts_cap) {
            const struct ast_expr **consts = doubled(ld->consts, &ld->consts_cap, sizeof(*consts));
            if (consts == NULL) {
                ld->rc = errbuf_set(ld->err, AMLSEC_ENOMEM, "out of memory");
                return constant;
            }
            ld->consts = consts;
        }
        ld->consts[ld->nconsts++] = e;
    }
    return constant;
}

/* Walks an attribute's value, then evaluates its constant operator
 * subtrees: `!1`, `lower("a", "b")` and `"x" ? 1 : 2` are reported by the
 * check, with evaluation's own words, whatever mode the load is in. */
static void walk_value(struct ref_walk *w, const struct ast_expr *e)
{
    struct loader *ld = w->ld;
    struct eval_ctx ectx = {.cfg = ld->cfg, .diags = ld->diags, .base_dir = ld->base_dir};
    walk_expr(w, e);
    for (size_t i = 0; i < ld->nconsts; i++) {
        json_t *v = NULL;
        if (eval_expr(&v, &ectx, ld->consts[i]) == 0)
            json_decref(v);
    }
    ld->nconsts = 0;
}

static void walk_body(struct ref_walk *w, const struct ast_body *b, bool top)
{
    for (const struct ast_attr *a = b->attrs; a; a = a->next) {
        struct ref_walk inner = *w;
        if (top && a->name[0] == 'f' && strcmp(a->name, "for_each") == 0)
            inner.no_resources = "for_each";
        else if (top && a->name[0] == 'c' && strcmp(a->name, "count") == 0)
            inner.no_resources = "count";
        walk_value(&inner, a->value);
    }
    for (const struct ast_block *k = b->blocks; k; k = k->next)
        if (!(top && strcmp(k->type, "lifecycle") == 0))
            walk_body(w, &k->body, false);
}

/* --- cycles --------------------------------------------------------------- */

enum { WHITE, GREY, BLACK };

static bool visit(struct loader *ld, struct cfg_resource *r, int *color,
                  struct cfg_resource **stack, size_t depth)
{
    struct cfg_resource *base = ld->cfg->resources;
    size_t idx = (size_t)(r - base);
    if (color[idx] == BLACK)
        return false;
    if (color[idx] == GREY) {
        /* report the cycle from r back to r */
        struct buf path;
        size_t start = 0;
        struct diag *d;
        while (start < depth && stack[start] != r)
            start++;
        buf_init(&path, 0);
        for (size_t i = start; i < depth; i++)
            buf_addf(&path, "%s -> ", stack[i]->address);
        buf_adds(&path, r->address);
        d = error_at(ld, &r->block->type_loc, "cycle", "reference cycle: %s", path.ptr);
        for (size_t i = start + 1; i < depth; i++)
            diag_add_note(d, &stack[i]->block->type_loc, "%s is part of the cycle",
                          stack[i]->address);
        buf_release(&path);
        return true;
    }
    color[idx] = GREY;
    stack[depth] = r;
    for (size_t i = 0; i < r->ndeps; i++)
        if (visit(ld, r->deps[i], color, stack, depth + 1))
            return true;
    color[idx] = BLACK;
    return false;
}

static bool find_cycles(struct loader *ld)
{
    size_t n = ld->cfg->nresources;
    int *color = calloc(n ? n : 1, sizeof(*color));
    struct cfg_resource **stack = calloc(n ? n + 1 : 1, sizeof(*stack));
    bool found = false;
    for (size_t i = 0; i < n && color && stack && !found; i++)
        found = visit(ld, &ld->cfg->resources[i], color, stack, 0);
    free(color);
    free(stack);
    return found;
}

/* --- locals: cycles and dependencies --------------------------------------- */

struct local_graph {
    size_t *ll_off, *lr_off;     /* CSR offsets per local (n + 1) */
    const struct local_ref **ll; /* local -> local references */
    uint32_t *lr;                /* local -> resource */
    uint32_t **clo;              /* each local's resources, directly or not */
    size_t *nclo;
    int *color;
    uint32_t *stamp; /* per resource: the local last added to */
};

/* How a lazily read value is named in messages: local.x, var.x or
 * output.x, after the module path when it is in a module. */
static const char *node_label(const struct cfg_local *l, char *buf, size_t size)
{
    snprintf(buf, size, "%s%s%s.%s", l->scope ? l->scope->path : "", l->scope ? "." : "",
             l->ns == 'l'   ? "local"
             : l->ns == 'v' ? "var"
                            : "output",
             l->name);
    return buf;
}

static bool visit_local(struct loader *ld, struct local_graph *g, uint32_t l, uint32_t *stack,
                        size_t depth)
{
    struct config *cfg = ld->cfg;
    char lb[512];
    if (g->color[l] == BLACK)
        return false;
    if (g->color[l] == GREY) {
        struct buf path;
        size_t start = 0;
        struct diag *d;
        struct src_loc nl = ast_attr_name_loc(cfg->locals[l].attr);
        while (start < depth && stack[start] != l)
            start++;
        buf_init(&path, 0);
        for (size_t i = start; i < depth; i++)
            buf_addf(&path, "%s -> ", node_label(&cfg->locals[stack[i]], lb, sizeof(lb)));
        buf_adds(&path, node_label(&cfg->locals[l], lb, sizeof(lb)));
        d = error_at(ld, &nl, "cycle", "reference cycle: %s", path.ptr);
        for (size_t i = start + 1; i < depth; i++) {
            struct src_loc ol = ast_attr_name_loc(cfg->locals[stack[i]].attr);
            diag_add_note(d, &ol, "%s is part of the cycle",
                          node_label(&cfg->locals[stack[i]], lb, sizeof(lb)));
        }
        buf_release(&path);
        return true;
    }
    g->color[l] = GREY;
    stack[depth] = l;
    for (size_t i = g->ll_off[l]; i < g->ll_off[l + 1]; i++)
        if (visit_local(ld, g, g->ll[i]->to, stack, depth + 1))
            return true;
    g->color[l] = BLACK;
    /* every child is done: l's resources are its own and its children's */
    {
        size_t cap = g->lr_off[l + 1] - g->lr_off[l], n = 0;
        uint32_t *set;
        for (size_t i = g->ll_off[l]; i < g->ll_off[l + 1]; i++)
            cap += g->nclo[g->ll[i]->to];
        set = malloc((cap ? cap : 1) * sizeof(*set));
        if (set == NULL) {
            ld->rc = errbuf_set(ld->err, AMLSEC_ENOMEM, "out of memory");
            return true;
        }
        for (size_t i = g->lr_off[l]; i < g->lr_off[l + 1]; i++)
            if (g->stamp[g->lr[i]] != l + 1)
                g->stamp[g->lr[i]] = l + 1, set[n++] = g->lr[i];
        for (size_t i = g->ll_off[l]; i < g->ll_off[l + 1]; i++) {
            uint32_t c = g->ll[i]->to;
            for (size_t k = 0; k < g->nclo[c]; k++)
                if (g->stamp[g->clo[c][k]] != l + 1)
                    g->stamp[g->clo[c][k]] = l + 1, set[n++] = g->clo[c][k];
        }
        g->clo[l] = set;
        g->nclo[l] = n;
        cfg->locals[l].needs_resources = n > 0;
    }
    return false;
}

/* Once every reference is known: reports cycles between locals, makes a
 * resource that reads a local depend on the resources the local refers to
 * (directly or through other locals), and refuses a local that refers to
 * resources where resources may not be read (for_each, settings). */
static int finish_locals(struct loader *ld)
{
    struct config *cfg = ld->cfg;
    size_t n = cfg->nlocals;
    struct local_graph g = {0};
    uint32_t *stack = NULL;
    bool cycle = false;
    char lb[512];

    if (n == 0)
        return 0;
    g.ll_off = calloc(n + 2, sizeof(*g.ll_off));
    g.lr_off = calloc(n + 2, sizeof(*g.lr_off));
    g.ll = calloc(ld->nlrefs + 1, sizeof(*g.ll));
    g.lr = calloc(ld->nlrefs + 1, sizeof(*g.lr));
    g.clo = calloc(n, sizeof(*g.clo));
    g.nclo = calloc(n, sizeof(*g.nclo));
    g.color = calloc(n, sizeof(*g.color));
    g.stamp = calloc(cfg->nresources + 1, sizeof(*g.stamp));
    stack = calloc(n + 1, sizeof(*stack));
    if (!g.ll_off || !g.lr_off || !g.ll || !g.lr || !g.clo || !g.nclo || !g.color || !g.stamp ||
        !stack) {
        ld->rc = errbuf_set(ld->err, AMLSEC_ENOMEM, "out of memory");
        goto out;
    }
    /* counting sort of the references by the local they start from */
    for (size_t i = 0; i < ld->nlrefs; i++) {
        const struct local_ref *r = &ld->lrefs[i];
        if (r->kind == LREF_LOCAL_LOCAL)
            g.ll_off[r->from + 2]++;
        else if (r->kind == LREF_LOCAL_RESOURCE)
            g.lr_off[r->from + 2]++;
    }
    for (size_t i = 2; i < n + 2; i++) {
        g.ll_off[i] += g.ll_off[i - 1];
        g.lr_off[i] += g.lr_off[i - 1];
    }
    for (size_t i = 0; i < ld->nlrefs; i++) {
        const struct local_ref *r = &ld->lrefs[i];
        if (r->kind == LREF_LOCAL_LOCAL)
            g.ll[g.ll_off[r->from + 1]++] = r;
        else if (r->kind == LREF_LOCAL_RESOURCE)
            g.lr[g.lr_off[r->from + 1]++] = r->to;
    }
    for (size_t l = 0; l < n && !cycle; l++)
        cycle = visit_local(ld, &g, (uint32_t)l, stack, 0);
    if (cycle)
        goto out;
    for (size_t i = 0; i < ld->nlrefs; i++) {
        const struct local_ref *r = &ld->lrefs[i];
        if (r->kind == LREF_RESOURCE_LOCAL) {
            struct ref_walk w = {.ld = ld, .from = (long)r->from, .seq = r->seq};
            for (size_t k = 0; k < g.nclo[r->to]; k++) {
                const struct cfg_resource *res = &cfg->resources[r->from];
                if (g.clo[r->to][k] == r->from) {
                    /* reported here: find_cycles would not name the local */
                    struct src_loc nl = ast_attr_name_loc(cfg->locals[r->to].attr);
                    const char *label = node_label(&cfg->locals[r->to], lb, sizeof(lb));
                    struct diag *d = error_at(ld, &res->block->type_loc, "cycle",
                                              "reference cycle: %s -> %s -> %s", res->address,
                                              label, res->address);
                    diag_add_note(d, &nl, "%s is part of the cycle", label);
                    continue;
                }
                add_dep(ld, &w, g.clo[r->to][k]);
            }
        } else if (r->kind == LREF_GUARD && g.nclo[r->to]) {
            error_at(ld, &r->loc, "reference",
                     "%s cannot refer to resources: %s refers to %s, known only after apply",
                     r->what, node_label(&cfg->locals[r->to], lb, sizeof(lb)),
                     cfg->resources[g.clo[r->to][0]].address);
        }
    }
out:
    for (size_t l = 0; g.clo && l < n; l++)
        free(g.clo[l]);
    free(g.ll_off);
    free(g.lr_off);
    free(g.ll);
    free(g.lr);
    free(g.clo);
    free(g.nclo);
    free(g.color);
    free(g.stamp);
    free(stack);
    free(ld->lrefs);
    ld->lrefs = NULL;
    ld->nlrefs = ld->lrefs_cap = 0;
    return ld->rc;
}

/* --- variables ------------------------------------------------------------ */

static bool type_ok(const char *type, const json_t *v)
{
    if (strcmp(type, "any") == 0 || json_is_null(v))
        return true;
    return strcmp(type, value_type_name(v)) == 0;
}

/* Parses a -var or AMLSEC_VAR_ value: a string variable takes the text as
 * is; others parse it as a literal expression. */
/* Parses a -var or AMLSEC_VAR_ value: a string variable takes the text as
 * is; others parse it as a literal expression (no references). A value that
 * does not parse is one error naming the variable, not the parser's words
 * about a synthetic file. */
static int parse_var_text(struct loader *ld, const struct cfg_variable *v, const char *origin,
                          const char *text, json_t **out)
{
    struct config *cfg = ld->cfg;
    struct src_file *src = NULL;
    struct ast_file *af = NULL;
    struct diag_list local;
    struct buf b;
    int rc;

    *out = NULL;
    if (strcmp(v->type, "string") == 0) {
        *out = json_string(text);
        return *out ? 0 : errbuf_set(ld->err, AMLSEC_ENOMEM, "out of memory");
    }
    buf_init(&b, 0);
    buf_addf(&b, "value = %s\n", text);
    rc = src_file_from_mem(&src, origin, b.ptr, b.len, ld->err);
    buf_release(&b);
    if (rc < 0)
        return rc;
    diag_list_init(&local);
    {
        struct eval_ctx ectx = {.cfg = cfg, .diags = &local, .no_resources = "a -var value"};
        rc = parse_file(&af, src, &cfg->arena, &local);
        if (rc == 0 && (af->body.attrs == NULL || af->body.blocks != NULL ||
                        af->body.attrs->value->kind == EXPR_TRAVERSAL))
            rc = AMLSEC_EPARSE;
        if (rc == 0)
            rc = eval_expr(out, &ectx, af->body.attrs->value);
    }
    diag_list_release(&local);
    src_file_free(src);
    if (rc < 0 && strcmp(v->type, "any") == 0) {
        /* an untyped variable takes text that is not a value as a string */
        *out = json_string(text);
        return *out ? 0 : errbuf_set(ld->err, AMLSEC_ENOMEM, "out of memory");
    }
    if (rc < 0) {
        struct diag *d = diag_add(ld->diags, DIAG_ERROR, NULL, "variable",
                                  "%s value for variable '%s' is not a valid %s: %s", origin,
                                  v->name, strcmp(v->type, "any") == 0 ? "value" : v->type,
                                  v->sensitive ? "(sensitive value not shown)" : text);
        if (d)
            diag_set_hint(d,
                          "numbers are written 3, bools true, lists [\"a\"], maps { k = \"v\" }");
        return AMLSEC_EPARSE;
    }
    return 0;
}

/* With a sensitive variable declared, what a -var-file's parse and
 * evaluation report would quote the file (the words name the offending
 * token, the snippet shows the line): those diagnostics are moved from
 * local to ld->diags with the file's text masked and the words withheld. */
static void withhold_var_file_diags(struct loader *ld, struct diag_list *local,
                                    const struct src_file *src)
{
    struct src_loc all = {.file = src, .begin = 0, .end = (uint32_t)src->len};
    for (size_t i = 0; i < local->n; i++) {
        struct diag *d = diag_add(ld->diags, local->items[i].severity, &local->items[i].loc,
                                  local->items[i].code, "%s",
                                  "the -var-file is not valid here (the details are withheld: "
                                  "it may hold a sensitive value)");
        if (d)
            diag_mask(d, &all);
    }
    diag_list_release(local);
    diag_list_init(local);
}

static struct cfg_variable *find_var(struct config *cfg, const char *name)
{
    for (size_t i = 0; i < cfg->nvars; i++)
        if (strcmp(cfg->vars[i].name, name) == 0)
            return &cfg->vars[i];
    return NULL;
}

static struct diag *unknown_var(struct loader *ld, const struct src_loc *loc, const char *name,
                                const char *origin)
{
    const char *cands[256];
    size_t n = 0;
    struct diag *d;
    for (size_t i = 0; i < ld->cfg->nvars && n < 255; i++)
        cands[n++] = ld->cfg->vars[i].name;
    cands[n] = NULL;
    d = diag_add(ld->diags, DIAG_ERROR, loc, "unknown-variable", "%s sets undeclared variable '%s'",
                 origin, name);
    hint_nearest(d, name, cands);
    return d;
}

/* loc: where the value is written (a default, a -var-file line); NULL for
 * -var and the environment. */
static void set_var(struct cfg_variable *v, json_t *value, const char *source,
                    const struct src_loc *loc)
{
    static const struct src_loc none;
    json_decref(v->value);
    v->value = value;
    v->source = source;
    v->value_loc = loc ? *loc : none;
}

/* Where "name" appears as a key in a JSON file (its first occurrence), for
 * diagnostics; the start of the file when it cannot be found. */
static struct src_loc json_key_loc(const struct src_file *src, const char *name)
{
    struct src_loc l = {src, 0, 0};
    size_t n = strlen(name);
    for (const char *p = src->text; (p = strchr(p, '"')) != NULL; p++) {
        if ((size_t)(src->text + src->len - p) > n + 1 && strncmp(p + 1, name, n) == 0 &&
            p[n + 1] == '"') {
            l.begin = (uint32_t)(p - src->text);
            l.end = l.begin + (uint32_t)n + 2;
            return l;
        }
    }
    return l;
}

/* A -var-file named *.json: one object, { "name": value, ... }, as
 * Terraform reads *.tfvars.json. */
static void load_json_var_file(struct loader *ld, const struct src_file *src)
{
    json_error_t je;
    json_t *doc = jsonw_loadb(src->text, src->len, 0, &je), *val, *fixed;
    const char *k;
    int rc;

    if (doc == NULL) {
        struct src_loc l = {src, (uint32_t)(je.position > 0 ? je.position - 1 : 0), 0};
        l.end = l.begin + (l.begin < src->len ? 1 : 0);
        error_at(ld, &l, "var-file", "this -var-file is not valid JSON: %s", je.text);
        return;
    }
    if (!json_is_object(doc)) {
        struct src_loc l = {src, 0, src->len ? 1 : 0};
        error_at(ld, &l, "var-file", "a JSON -var-file holds one object: { \"name\": value, ... }");
        json_decref(doc);
        return;
    }
    json_object_foreach(doc, k, val)
    {
        struct cfg_variable *v = find_var(ld->cfg, k);
        struct src_loc l = json_key_loc(src, k);
        if (v == NULL) {
            unknown_var(ld, &l, k, "-var-file");
            continue;
        }
        /* numbers as the language has them: 2.5, 2.0 is 2, 1e20 exact */
        if ((rc = value_json_numbers(val, &fixed)) < 0) {
            if (rc == -3)
                error_at(ld, &l, "var-file",
                         "variable '%s': the number is too large: whole numbers are exact up to "
                         "%d bits",
                         k, VALUE_BIG_BITS);
            else
                error_at(ld, &l, "var-file", "variable '%s': %s", k,
                         rc == -1 ? "a number too large for a 64-bit float"
                                  : "nesting deeper than 64 levels");
            continue;
        }
        set_var(v, fixed ? fixed : json_incref(val), "-var-file", &l);
    }
    json_decref(doc);
}

static bool ends_with_json(const char *path)
{
    size_t n = strlen(path);
    return n > 5 && strcasecmp(path + n - 5, ".json") == 0;
}

/* --- validation blocks of variables ------------------------------------- */

static const char *const validation_attrs[] = {"condition", "error_message", NULL};

/* A variable declaration's nested blocks (root or module scope): only
 * validation { condition, error_message }, the condition reading the
 * variable itself; both may read other variables, locals and resources
 * (Terraform 1.9): validation_phase says when they can run. */
static void check_validation_shape(struct loader *ld, const struct ast_block *decl,
                                   const struct cfg_module *scope)
{
    const char *name = decl->nlabels ? decl->labels->text : "";
    for (const struct ast_block *k = decl->body.blocks; k; k = k->next) {
        const struct ast_attr *cond, *msg;
        struct ref_walk w = {
            .ld = ld, .from = -1, .module = scope, .final = true, .self_var = name};
        struct diag *d;
        if (strcmp(k->type, "validation") != 0) {
            d = error_at(ld, &k->type_loc, "unknown-block", "unknown block '%s' in variable",
                         k->type);
            if (d)
                diag_set_hint(d, "a variable holds type, default, description, sensitive and "
                                 "validation { condition, error_message } blocks");
            continue;
        }
        if (k->nlabels)
            error_at(ld, &k->labels->loc, "label", "a validation block takes no name");
        for (const struct ast_block *x = k->body.blocks; x; x = x->next)
            error_at(ld, &x->type_loc, "unknown-block", "unknown block '%s' in validation",
                     x->type);
        for (const struct ast_attr *a = k->body.attrs; a; a = a->next)
            if (!in_list(validation_attrs, a->name)) {
                struct src_loc nl = ast_attr_name_loc(a);
                hint_nearest(error_at(ld, &nl, "unknown-attribute",
                                      "unknown attribute '%s' in validation", a->name),
                             a->name, validation_attrs);
            }
        cond = ast_body_attr(&k->body, "condition");
        msg = ast_body_attr(&k->body, "error_message");
        if (cond == NULL || msg == NULL) {
            d = error_at(ld, &k->type_loc, "validation", "validation block needs %s",
                         cond == NULL ? "condition" : "error_message");
            if (d)
                diag_set_hint(d,
                              "write it as: validation { condition = length(var.%s) > 0, "
                              "error_message = \"...\" }",
                              name);
        }
        if (cond) {
            walk_value(&w, cond->value);
            if (!w.self_seen) {
                d = error_at(ld, &cond->value->loc, "validation",
                             "the condition of variable '%s' does not refer to var.%s: a "
                             "validation tests the value given",
                             name, name);
                if (d)
                    diag_set_hint(d, "for example: condition = length(var.%s) > 0", name);
            }
        }
        if (msg) {
            w.self_var = NULL;
            walk_value(&w, msg->value);
        }
    }
}

/* Evaluates a variable's validations against the value it has (read
 * through var.NAME in scope). A failed one is an error at the value's
 * origin (value_loc: a default, a -var-file line, a module's argument)
 * with a note at the condition, or, for a value from the command line or
 * the environment, at the condition, saying where the value came from.
 * A condition that is not known yet (it reads what only apply knows) is
 * skipped; a sensitive variable's value (mask_file: the whole -var-file
 * it is in) and an error message that reads it are never shown. */
/* The phase a validation runs in (0: with the root's variables, 1: once
 * instances are expanded, 2: once resources are evaluated; see
 * probe_traversal): what its condition and message read. */
static int validation_phase(struct loader *ld, const struct cfg_module *scope,
                            const struct ast_attr *cond, const struct ast_attr *msg)
{
    struct ref_walk w = {.ld = ld, .from = -1, .module = scope, .final = true, .probe = true};
    size_t mark = ld->nconsts;
    walk_expr(&w, cond->value);
    walk_expr(&w, msg->value);
    ld->nconsts = mark;
    return w.probe_phase;
}

struct diag *config_check_error(struct diag_list *diags, const struct cfg_check *c,
                                const char *text)
{
    const char *of = c->scope ? " of " : "", *path = c->scope ? c->scope->path : "";
    struct diag *d;
    if (c->value_loc.file == NULL)
        return diag_add(diags, DIAG_ERROR, &c->cond_loc, "validation",
                        "invalid value for variable '%s' (set by %s): %s", c->variable,
                        c->origin ? c->origin : "the command line", text);
    d = diag_add(diags, DIAG_ERROR, &c->value_loc, "validation",
                 "invalid value for variable '%s'%s%s: %s", c->variable, of, path, text);
    if (d && c->sensitive) {
        /* a -var-file's line may hold the value beside its key */
        struct src_loc all = {c->value_loc.file, 0, (uint32_t)c->value_loc.file->len};
        diag_mask(d, c->mask_file ? &all : &c->value_loc);
    }
    diag_add_note(d, &c->cond_loc, "checked by this validation");
    return d;
}

/* A validation whose condition is known only after apply, kept for the
 * plan (cfg_check): its message too, evaluated quietly (it may read what
 * only apply knows; one that fails to evaluate is no message). */
static void defer_validation(struct loader *ld, struct cfg_check *c, const struct ast_attr *msg,
                             struct eval_ctx *mctx)
{
    struct diag_list scratch;
    struct cfg_check *grown;
    json_t *m = NULL;
    diag_list_init(&scratch);
    mctx->diags = &scratch;
    if (eval_expr(&m, mctx, msg->value) < 0 ||
        (!json_is_string(m) && !(value_is_unknown(m) && value_unknown_resolvable(m)))) {
        json_decref(m);
        m = NULL;
    }
    diag_list_release(&scratch);
    if (mctx->sensitive) {
        json_decref(m);
        m = NULL;
        c->withheld = c->sensitive ? "(the error message is withheld: it reads the sensitive value)"
                                   : "(the error message is withheld: it reads a sensitive value)";
    }
    c->message = m;
    c->holds_secret = c->holds_secret || c->sensitive || mctx->sensitive;
    if (c->origin) /* the caller's buffer */
        c->origin = arena_strdup(&ld->cfg->arena, c->origin);
    grown = realloc(ld->cfg->checks, (ld->cfg->nchecks + 1) * sizeof(*grown));
    if (grown == NULL) {
        json_decref(c->condition);
        json_decref(c->message);
        return;
    }
    ld->cfg->checks = grown;
    grown[ld->cfg->nchecks++] = *c;
}

static void run_validations(struct loader *ld, const struct ast_block *decl,
                            const struct cfg_module *scope, const char *base_dir,
                            const struct src_loc *value_loc, const char *origin, bool sensitive,
                            bool mask_file, int min_phase, int max_phase)
{
    const char *name = decl->labels->text;
    for (const struct ast_block *k = decl->body.blocks; k; k = k->next) {
        const struct ast_attr *cond = ast_body_attr(&k->body, "condition");
        const struct ast_attr *msg = ast_body_attr(&k->body, "error_message");
        struct eval_ctx ectx = {
            .cfg = ld->cfg, .diags = ld->diags, .base_dir = base_dir, .module = scope};
        struct eval_ctx mctx = ectx;
        struct cfg_check c = {.variable = name,
                              .scope = scope,
                              .origin = origin,
                              .sensitive = sensitive,
                              .mask_file = mask_file};
        json_t *ok = NULL, *m = NULL;
        const char *text;
        int phase;
        if (strcmp(k->type, "validation") != 0 || cond == NULL || msg == NULL)
            continue;
        phase = validation_phase(ld, scope, cond, msg);
        if (phase < min_phase || phase > max_phase)
            continue;
        if (eval_expr(&ok, &ectx, cond->value) < 0)
            continue;
        if (value_loc && value_loc->file)
            c.value_loc = *value_loc;
        c.cond_loc = cond->value->loc;
        if (value_is_unknown(ok) && value_unknown_resolvable(ok)) {
            /* known only after apply: checked then (Terraform does so) */
            c.condition = ok;
            c.holds_secret = ectx.sensitive;
            defer_validation(ld, &c, msg, &mctx);
            continue;
        }
        if (value_contains_unknown(ok) || json_is_true(ok)) {
            /* unknown for good (what it reads is not one value that apply
             * fills in): not checked */
            json_decref(ok);
            continue;
        }
        if (!json_is_boolean(ok)) {
            error_at(ld, &cond->value->loc, "type",
                     "a validation condition is true or false, not a %s", value_type_name(ok));
            json_decref(ok);
            continue;
        }
        json_decref(ok);
        if (eval_expr(&m, &mctx, msg->value) < 0)
            m = NULL;
        else if (!json_is_string(m))
            error_at(ld, &msg->value->loc, "type", "error_message is a string, not a %s",
                     value_type_name(m));
        text = mctx.sensitive      ? sensitive ? "(the error message is withheld: it reads the "
                                                 "sensitive value)"
                                               : "(the error message is withheld: it reads a "
                                                 "sensitive value)"
               : json_is_string(m) ? json_string_value(m)
                                   : "(no error message)";
        config_check_error(ld->diags, &c, text);
        json_decref(m);
    }
}

/* Module inputs against their variables' validations: those that read no
 * resource (the input, and what the validation reads) once the instances
 * are expanded (late false), the others once resources are evaluated
 * (late true; skipped while unknown). */
static void validate_module_inputs(struct loader *ld, bool late)
{
    struct config *cfg = ld->cfg;
    for (size_t i = 0; i < cfg->nmodules; i++) {
        const struct cfg_module *m = cfg->modules[i];
        for (const struct ast_file *f = m->files; f; f = f->next)
            for (const struct ast_block *b = f->body.blocks; b; b = b->next) {
                const struct cfg_local *in;
                if (strcmp(b->type, "variable") != 0 || b->nlabels != 1 ||
                    ast_body_block(&b->body, "validation") == NULL)
                    continue;
                in = config_find_node(cfg, m, 'v', b->labels->text);
                if (in == NULL || in->attr == NULL || (in->needs_resources && !late))
                    continue;
                run_validations(ld, b, m, m->dir, &in->attr->value->loc, NULL,
                                in->declared_sensitive, false, late && !in->needs_resources ? 2 : 0,
                                late ? 2 : 1);
            }
    }
}

/* Whether one of the variable block's validations reads a resource
 * (phase 2): its condition may be known only after apply. */
static bool validated_late(struct loader *ld, const struct ast_block *decl,
                           const struct cfg_module *scope)
{
    for (const struct ast_block *k = decl->body.blocks; k; k = k->next) {
        const struct ast_attr *cond = ast_body_attr(&k->body, "condition");
        const struct ast_attr *msg = ast_body_attr(&k->body, "error_message");
        if (strcmp(k->type, "validation") == 0 && cond && msg &&
            validation_phase(ld, scope, cond, msg) == 2)
            return true;
    }
    return false;
}

/* Marks the variables a validation may be checked for at apply (it reads
 * a resource, or a module's input reads one), once every reference is
 * known and before the resources are evaluated (until then, every
 * validated variable is marked: a module's for_each may evaluate a local
 * early): what reads them records it (cfg_read.variable), and apply
 * holds those changes until the validation is checked, as Terraform's
 * graph makes var.NAME's readers wait for its validation. */
static void mark_late_validations(struct loader *ld)
{
    struct config *cfg = ld->cfg;
    for (size_t i = 0; i < cfg->nvars; i++)
        cfg->vars[i].checked_late = validated_late(ld, cfg->vars[i].block, NULL);
    for (size_t i = 0; i < cfg->nmodules; i++) {
        const struct cfg_module *m = cfg->modules[i];
        for (const struct ast_file *f = m->files; f; f = f->next)
            for (const struct ast_block *b = f->body.blocks; b; b = b->next) {
                struct cfg_local *in;
                if (strcmp(b->type, "variable") != 0 || b->nlabels != 1 ||
                    ast_body_block(&b->body, "validation") == NULL ||
                    (in = config_find_node(cfg, m, 'v', b->labels->text)) == NULL)
                    continue;
                in->checked_late = in->needs_resources || validated_late(ld, b, m);
            }
    }
}

/* A root variable with its value against its validations of a phase. */
static void validate_root_variable(struct loader *ld, const struct cfg_variable *v, int phase)
{
    char origin[300];
    if (v->value == NULL || (strcmp(v->source, "default") != 0 && !type_ok(v->type, v->value)) ||
        ast_body_block(&v->block->body, "validation") == NULL)
        return;
    if (strcmp(v->source, "environment") == 0)
        snprintf(origin, sizeof(origin), "AMLSEC_VAR_%s in the environment", v->name);
    else
        snprintf(origin, sizeof(origin), "%s", v->source);
    run_validations(ld, v->block, NULL, ld->base_dir, &v->value_loc, origin, v->sensitive,
                    strcmp(v->source, "-var-file") == 0, phase, phase);
}

static int bind_variables(struct loader *ld)
{
    struct config *cfg = ld->cfg;
    const struct config_opts *o = ld->opts;
    struct diag_list local;
    bool secret = false;
    int rc;

    /* declarations and defaults */
    for (size_t i = 0; i < cfg->nvars; i++) {
        struct cfg_variable *v = &cfg->vars[i];
        const struct ast_body *body = &v->block->body;
        struct eval_ctx ectx = {.cfg = cfg, .diags = ld->diags, .no_resources = "a variable"};
        for (const struct ast_attr *a = body->attrs; a; a = a->next) {
            json_t *val = NULL;
            struct src_loc nl = ast_attr_name_loc(a);
            if (!in_list(variable_attrs, a->name)) {
                hint_nearest(error_at(ld, &nl, "unknown-attribute",
                                      "unknown attribute '%s' in variable", a->name),
                             a->name, variable_attrs);
                continue;
            }
            if (strcmp(a->name, "type") == 0) {
                const char *t = a->value->kind == EXPR_TRAVERSAL && a->value->u.trav.n == 0
                                    ? a->value->u.trav.root
                                : a->value->kind == EXPR_STRING ? a->value->u.str.s
                                                                : NULL;
                if (t == NULL || !in_list(variable_types, t))
                    hint_nearest(error_at(ld, &a->value->loc, "type",
                                          "unknown variable type; use string, number, bool, "
                                          "list, map or any"),
                                 t ? t : "", variable_types);
                else
                    v->type = t;
                continue;
            }
            if (strcmp(a->name, "default") != 0 && a->value->kind == EXPR_TRAVERSAL)
                continue;
            if (eval_expr(&val, &ectx, a->value) < 0)
                continue;
            if (strcmp(a->name, "description") == 0) {
                if (json_is_string(val))
                    v->description = arena_strdup(&cfg->arena, json_string_value(val));
                else
                    error_at(ld, &a->value->loc, "type", "description must be a string");
                json_decref(val);
            } else if (strcmp(a->name, "sensitive") == 0) {
                if (!json_is_boolean(val))
                    error_at(ld, &a->value->loc, "type", "sensitive must be true or false");
                v->sensitive = json_is_true(val);
                json_decref(val);
            } else {
                set_var(v, val, "default", &a->value->loc);
            }
        }
        if (v->value && !type_ok(v->type, v->value)) {
            const struct ast_attr *def = ast_body_attr(body, "default");
            error_at(ld, &def->value->loc, "type", "default of variable '%s' is a %s, not a %s",
                     v->name, value_type_name(v->value), v->type);
        }
    }
    /* AMLSEC_VAR_name, then -var-file, then -var: later wins */
    for (char *const *e = o->environ; e && *e; e++) {
        const char *eq;
        char name[256];
        struct cfg_variable *v;
        json_t *val = NULL;
        if (strncmp(*e, "AMLSEC_VAR_", 11) != 0 || (eq = strchr(*e, '=')) == NULL)
            continue;
        snprintf(name, sizeof(name), "%.*s", (int)(eq - *e - 11), *e + 11);
        if ((v = find_var(cfg, name)) == NULL)
            continue; /* like TF_VAR_: unused environment values are fine */
        if ((rc = parse_var_text(ld, v, "AMLSEC_VAR_", eq + 1, &val)) < 0) {
            if (rc != AMLSEC_EPARSE)
                return rc;
            continue;
        }
        set_var(v, val, "environment", NULL);
    }
    for (size_t i = 0; i < cfg->nvars; i++)
        secret |= cfg->vars[i].sensitive;
    diag_list_init(&local);
    for (size_t i = 0; i < o->nvar_files; i++) {
        struct src_file *src = NULL;
        struct ast_file *af = NULL;
        struct eval_ctx ectx = {.cfg = cfg, .diags = ld->diags, .no_resources = "a -var-file"};
        struct src_file **grown;
        if ((rc = src_file_load(&src, o->var_files[i], ld->err)) < 0)
            return errbuf_prefix(ld->err, "-var-file"), rc;
        grown = realloc(cfg->srcs, (cfg->nsrcs + 1) * sizeof(*grown));
        if (grown == NULL) {
            src_file_free(src);
            return errbuf_set(ld->err, AMLSEC_ENOMEM, "out of memory");
        }
        cfg->srcs = grown;
        cfg->srcs[cfg->nsrcs++] = src;
        if (ends_with_json(o->var_files[i])) {
            if (secret) {
                struct diag_list *saved = ld->diags;
                ld->diags = &local;
                load_json_var_file(ld, src);
                ld->diags = saved;
                withhold_var_file_diags(ld, &local, src);
            } else {
                load_json_var_file(ld, src);
            }
            continue;
        }
        if (secret)
            ectx.diags = &local;
        if (parse_file(&af, src, &cfg->arena, ectx.diags) < 0) {
            withhold_var_file_diags(ld, &local, src);
            continue;
        }
        for (const struct ast_block *b = af->body.blocks; b; b = b->next)
            error_at(ld, &b->type_loc, "var-file", "a -var-file holds only NAME = VALUE lines");
        for (const struct ast_attr *a = af->body.attrs; a; a = a->next) {
            struct cfg_variable *v = find_var(cfg, a->name);
            json_t *val = NULL;
            if (v == NULL) {
                /* a misspelt sensitive variable's value is a secret too */
                struct src_loc nl = ast_attr_name_loc(a);
                struct diag *d = unknown_var(ld, &nl, a->name, "-var-file");
                if (d && secret)
                    diag_mask(d, &a->value->loc);
                continue;
            }
            if (eval_expr(&val, &ectx, a->value) < 0)
                continue;
            set_var(v, val, "-var-file", &a->value->loc);
        }
        withhold_var_file_diags(ld, &local, src);
    }
    diag_list_release(&local);
    for (size_t i = 0; i < o->nvars; i++) {
        struct cfg_variable *v = find_var(cfg, o->vars[i].name);
        json_t *val = NULL;
        if (v == NULL) {
            unknown_var(ld, NULL, o->vars[i].name, "-var");
            continue;
        }
        if ((rc = parse_var_text(ld, v, "-var", o->vars[i].value, &val)) < 0) {
            if (rc != AMLSEC_EPARSE)
                return rc;
            continue;
        }
        set_var(v, val, "-var", NULL);
    }
    for (size_t i = 0; i < cfg->nvars; i++) {
        struct cfg_variable *v = &cfg->vars[i];
        if (v->value == NULL) {
            struct diag *d = error_at(ld, &v->block->labels->loc, "missing-variable",
                                      "no value for required variable '%s'", v->name);
            if (d)
                diag_set_hint(d, "set it with -var %s=VALUE, a -var-file, or AMLSEC_VAR_%s",
                              v->name, v->name);
        } else if (strcmp(v->source, "default") != 0 && !type_ok(v->type, v->value)) {
            error_at(ld, &v->block->labels->loc, "type", "variable '%s' is a %s but %s gave a %s",
                     v->name, v->type, v->source, value_type_name(v->value));
        } else {
            validate_root_variable(ld, v, 0);
        }
    }
    return 0;
}

/* The root's variables against the validations of a phase (see
 * validation_phase); a variable without a value or of the wrong type was
 * reported by bind_variables. */
static void validate_root_variables(struct loader *ld, int phase)
{
    for (size_t i = 0; i < ld->cfg->nvars; i++)
        validate_root_variable(ld, &ld->cfg->vars[i], phase);
}

/* --- settings, lifecycle, instances -------------------------------------- */

static const char *env_get(char *const *environ, const char *name)
{
    size_t n = strlen(name);
    for (char *const *e = environ; e && *e; e++)
        if (strncmp(*e, name, n) == 0 && (*e)[n] == '=' && (*e)[n + 1])
            return *e + n + 1;
    return NULL;
}

/* Like the azurerm provider: the subscription and tenant come from
 * ARM_SUBSCRIPTION_ID and ARM_TENANT_ID unless settings names them. */
static void settings_defaults(struct loader *ld)
{
    static const char *const keys[][2] = {{"subscription", "ARM_SUBSCRIPTION_ID"},
                                          {"tenant", "ARM_TENANT_ID"}};
    for (size_t i = 0; i < 2; i++) {
        const char *v = env_get(ld->opts->environ, keys[i][1]);
        if (json_object_get(ld->cfg->settings, keys[i][0]) == NULL && v)
            json_object_set_new(ld->cfg->settings, keys[i][0], json_string(v));
    }
}

static void eval_settings(struct loader *ld)
{
    struct config *cfg = ld->cfg;
    const struct ast_block *b = cfg->settings_block;
    struct eval_ctx ectx = {
        .cfg = cfg, .diags = ld->diags, .no_resources = "settings", .base_dir = ld->base_dir};
    cfg->settings = json_object();
    if (b == NULL) {
        settings_defaults(ld);
        return;
    }
    for (const struct ast_attr *a = b->body.attrs; a; a = a->next) {
        json_t *v = NULL;
        if (!in_list(settings_attrs, a->name)) {
            struct src_loc nl = ast_attr_name_loc(a);
            hint_nearest(error_at(ld, &nl, "unknown-attribute", "unknown setting '%s'", a->name),
                         a->name, settings_attrs);
            continue;
        }
        if (eval_expr(&v, &ectx, a->value) != 0)
            continue;
        if (strcmp(a->name, "cloud") == 0 && json_is_string(v) &&
            strstr(json_string_value(v), "://") != NULL) {
            /* sign-in goes to the cloud's login endpoint: a configuration
             * (a pull request, say) must not send credentials to a host of
             * its choosing */
            struct diag *d = error_at(ld, &a->value->loc, "cloud-url",
                                      "settings.cloud names a cloud (public, usgovernment, china "
                                      "or local), not a URL");
            if (d)
                diag_set_hint(d, "give a custom endpoint with -cloud URL (or ARM_METADATA_HOSTNAME "
                                 "for Azure Stack), where the person running amlsec chooses it");
            json_decref(v);
            continue;
        }
        json_object_set_new(cfg->settings, a->name, v);
    }
    settings_defaults(ld);
    for (const struct ast_block *k = b->body.blocks; k; k = k->next) {
        json_t *obj = json_object();
        if (!in_list(settings_blocks, k->type)) {
            hint_nearest(error_at(ld, &k->type_loc, "unknown-block",
                                  "unknown block '%s' in settings", k->type),
                         k->type, settings_blocks);
            json_decref(obj);
            continue;
        }
        for (const struct ast_attr *a = k->body.attrs; a; a = a->next) {
            json_t *v = NULL;
            if (eval_expr(&v, &ectx, a->value) == 0)
                json_object_set_new(obj, a->name, v);
        }
        json_object_set_new(cfg->settings, k->type, obj);
    }
}

/* b: r's block with its body (r->block may be an outline by now). */
static void parse_lifecycle(struct loader *ld, struct cfg_resource *r, const struct ast_block *b)
{
    const struct ast_block *lc = NULL;
    struct eval_ctx ectx = {.cfg = ld->cfg, .diags = ld->diags, .no_resources = "lifecycle"};
    for (const struct ast_block *k = b->body.blocks; k; k = k->next) {
        if (strcmp(k->type, "lifecycle") != 0)
            continue;
        if (lc) {
            duplicate(ld, k, lc, "lifecycle block");
            continue;
        }
        lc = k;
    }
    if (lc == NULL)
        return;
    if (r->existing)
        error_at(ld, &lc->type_loc, "lifecycle",
                 "existing resources are never changed: lifecycle does not apply");
    for (const struct ast_block *k = lc->body.blocks; k; k = k->next)
        error_at(ld, &k->type_loc, "unknown-block", "unknown block '%s' in lifecycle", k->type);
    for (const struct ast_attr *a = lc->body.attrs; a; a = a->next) {
        json_t *v = NULL;
        if (!in_list(lifecycle_attrs, a->name)) {
            struct src_loc nl = ast_attr_name_loc(a);
            hint_nearest(error_at(ld, &nl, "unknown-attribute",
                                  "unknown attribute '%s' in lifecycle", a->name),
                         a->name, lifecycle_attrs);
            continue;
        }
        if (strcmp(a->name, "ignore_changes") == 0 && a->value->kind == EXPR_LIST) {
            /* bare attribute names or strings: ignore_changes = [tags, "a.b"] */
            size_t n = 0;
            r->lifecycle.ignore_changes =
                arena_alloc(&ld->cfg->arena, (a->value->u.list.n + 1) * sizeof(char *));
            for (const struct ast_expr *x = a->value->u.list.items; x; x = x->next) {
                const char *path = NULL;
                /* copied: the body may be released after the check */
                if (x->kind == EXPR_STRING)
                    path = arena_strdup(&ld->cfg->arena, x->u.str.s);
                else if (x->kind == EXPR_TRAVERSAL) {
                    struct buf pb;
                    buf_init(&pb, 0);
                    buf_adds(&pb, x->u.trav.root);
                    for (const struct ast_step *s = x->u.trav.steps; s; s = s->next)
                        if (s->kind == STEP_ATTR)
                            buf_addf(&pb, ".%s", s->name);
                    path = arena_strdup(&ld->cfg->arena, pb.ptr);
                    buf_release(&pb);
                }
                if (path == NULL)
                    error_at(ld, &x->loc, "type", "ignore_changes lists attribute names");
                else if (r->lifecycle.ignore_changes)
                    r->lifecycle.ignore_changes[n++] = path;
            }
            r->lifecycle.nignore_changes = n;
            continue;
        }
        if (eval_expr(&v, &ectx, a->value) < 0)
            continue;
        if (strcmp(a->name, "purge_on_destroy") == 0 && strcmp(r->kind, "workspace") != 0) {
            struct src_loc nl = ast_attr_name_loc(a);
            error_at(ld, &nl, "lifecycle",
                     "purge_on_destroy applies to workspaces only (a deleted workspace is "
                     "soft-deleted and holds its name)");
        } else if (strcmp(a->name, "prevent_destroy") == 0 ||
                   strcmp(a->name, "create_before_destroy") == 0 ||
                   strcmp(a->name, "purge_on_destroy") == 0) {
            if (!json_is_boolean(v))
                error_at(ld, &a->value->loc, "type", "%s must be true or false", a->name);
            else if (strcmp(a->name, "prevent_destroy") == 0)
                r->lifecycle.prevent_destroy = json_is_true(v);
            else if (strcmp(a->name, "purge_on_destroy") == 0)
                r->lifecycle.purge_on_destroy = json_is_true(v);
            else
                r->lifecycle.create_before_destroy = json_is_true(v);
        } else if (strcmp(a->name, "ignore_rules") == 0) {
            const char *key;
            json_t *reason;
            size_t n = 0;
            if (!json_is_object(v)) {
                struct diag *d = error_at(ld, &a->value->loc, "type",
                                          "ignore_rules must map rule IDs to reasons");
                if (d)
                    diag_set_hint(d,
                                  "ignore_rules = { \"WS-PRIVATE\" = \"why it is acceptable\" }");
            } else {
                r->lifecycle.ignore_rules = arena_alloc(
                    &ld->cfg->arena, (json_object_size(v) + 1) * sizeof(struct cfg_suppression));
                json_object_foreach(v, key, reason)
                {
                    struct src_loc loc = a->value->loc;
                    for (const struct ast_map_item *m =
                             a->value->kind == EXPR_MAP ? a->value->u.map.items : NULL;
                         m; m = m->next)
                        if (m->key->kind == EXPR_STRING && strcmp(m->key->u.str.s, key) == 0)
                            loc = m->loc;
                    if (!json_is_string(reason) || json_string_length(reason) == 0) {
                        struct diag *d = error_at(ld, &loc, "suppression",
                                                  "suppressing rule '%s' needs a reason", key);
                        if (d)
                            diag_set_hint(d, "\"%s\" = \"why this is acceptable here\"", key);
                        continue;
                    }
                    if (r->lifecycle.ignore_rules == NULL)
                        break;
                    r->lifecycle.ignore_rules[n].rule = arena_strdup(&ld->cfg->arena, key);
                    r->lifecycle.ignore_rules[n].reason =
                        arena_strdup(&ld->cfg->arena, json_string_value(reason));
                    r->lifecycle.ignore_rules[n].loc = loc;
                    n++;
                }
                r->lifecycle.nignore_rules = n;
            }
        }
        json_decref(v);
    }
}

/* The value of count = N (a resource's or a module call's), checked: a
 * known whole number from 0 to COUNT_MAX. False when it is not (reported). */
static bool count_number(struct loader *ld, const struct ast_attr *ca, struct eval_ctx *ectx,
                         json_int_t *n)
{
    json_t *v = NULL;
    ectx->sensitive = false;
    if (eval_expr(&v, ectx, ca->value) < 0)
        return false;
    if (ectx->sensitive) {
        error_at(ld, &ca->value->loc, "count",
                 "count reads a sensitive value, which the number of instances would show "
                 "(in plans, the state and their addresses): as in Terraform, it cannot be used "
                 "in count");
        json_decref(v);
        return false;
    }
    if (value_is_big(v)) {
        error_at(ld, &ca->value->loc, "count", "count must be 0 to %d, not %s", COUNT_MAX,
                 ectx->sensitive ? "a value beyond 64 bits (sensitive: not shown)"
                                 : value_big_digits(v));
        json_decref(v);
        return false;
    }
    if (!json_is_integer(v)) {
        error_at(ld, &ca->value->loc, "count", "count needs a whole number, not a %s",
                 json_is_real(v) ? "decimal" : value_type_name(v));
        json_decref(v);
        return false;
    }
    *n = json_integer_value(v);
    json_decref(v);
    if (*n < 0 || *n > COUNT_MAX) {
        if (ectx->sensitive)
            error_at(ld, &ca->value->loc, "count",
                     "count must be 0 to %d (the value is sensitive: not shown)", COUNT_MAX);
        else
            error_at(ld, &ca->value->loc, "count",
                     "count must be 0 to %d, not %" JSON_INTEGER_FORMAT, COUNT_MAX, *n);
        return false;
    }
    return true;
}

/* count and for_each both set (a resource or a module call): an error at
 * count, with a note at for_each. */
static void count_and_for_each(struct loader *ld, const struct ast_attr *ca,
                               const struct ast_attr *fe)
{
    struct src_loc nl = ast_attr_name_loc(ca), fl = ast_attr_name_loc(fe);
    struct diag *d = error_at(ld, &nl, "count", "count and for_each cannot both be set");
    if (d) {
        diag_add_note(d, &fl, "for_each is set here");
        diag_set_hint(d, "for_each makes instances keyed by name, count numbered ones: keep one");
    }
}

/* count = N: instances TYPE.NAME[0] ... [N-1], count.index in each. */
/* Where k holds a character an instance address cannot: '"', '\\', '[',
 * ']' or a control character; NULL when it holds none. */
static const char *key_bad_char(const char *k)
{
    for (; *k; k++)
        if ((unsigned char)*k < 0x20 || *k == 0x7f || strchr("\"\\[]", *k) != NULL)
            return k;
    return NULL;
}

/* A for_each that read a sensitive value: its keys would show in instance
 * addresses (plans, the state, -target). Reports it; true when so. */
static bool for_each_sensitive(struct loader *ld, const struct ast_attr *fe,
                               const struct eval_ctx *ectx)
{
    if (!ectx->sensitive)
        return false;
    error_at(ld, &fe->value->loc, "for_each",
             "for_each reads a sensitive value, which its keys would show in instance addresses "
             "(in plans, the state and -target): as in Terraform, it cannot be used in for_each");
    return true;
}

/* A for_each key becomes part of an instance address (TYPE.NAME["KEY"],
 * module.NAME["KEY"]) that the state, -target and state mv read back:
 * reports the first key of v (a map's keys, a list's strings) that cannot
 * be written there. True when every key fits. */
static bool keys_fit_addresses(struct loader *ld, const struct ast_attr *fe, const json_t *v)
{
    const char *key = NULL, *bad = NULL;
    json_t *x;
    size_t i;
    if (json_is_object(v)) {
        json_object_foreach((json_t *)v, key, x)
        {
            if ((bad = key_bad_char(key)) != NULL)
                break;
        }
    } else {
        json_array_foreach(v, i, x)
        {
            key = json_string_value(x);
            if (key && (bad = key_bad_char(key)) != NULL)
                break;
        }
    }
    if (bad == NULL)
        return true;
    if ((unsigned char)*bad < 0x20 || *bad == 0x7f)
        error_at(ld, &fe->value->loc, "for_each",
                 "a for_each key holds a control character: keys become part of instance "
                 "addresses, which may not hold '\"', '\\', '[', ']' or control characters");
    else
        error_at(ld, &fe->value->loc, "for_each",
                 "for_each key '%.200s' holds '%c': keys become part of instance addresses, which "
                 "may not hold '\"', '\\', '[', ']' or control characters",
                 key, *bad);
    return false;
}

static int expand_count(struct loader *ld, struct cfg_resource *r, const struct ast_attr *ca)
{
    struct eval_ctx ectx = {.cfg = ld->cfg,
                            .diags = ld->diags,
                            .no_resources = "count",
                            .base_dir = r->module ? r->module->dir : ld->base_dir,
                            .module = r->module};
    struct arena *ar = &ld->cfg->arena;
    const struct ast_attr *fe = r->for_each_attr;
    struct src_loc nl = ast_attr_name_loc(ca);
    json_int_t n;

    r->has_count = true;
    if (fe) {
        count_and_for_each(ld, ca, fe);
        return 0;
    }
    if (r->existing) {
        error_at(ld, &nl, "count", "count is not supported on existing blocks");
        return 0;
    }
    if (!count_number(ld, ca, &ectx, &n) || n == 0)
        return 0; /* absent: no instance */
    r->instances =
        arena_alloc_align(ar, (size_t)n * sizeof(*r->instances), _Alignof(struct cfg_instance));
    if (r->instances == NULL)
        return errbuf_set(ld->err, AMLSEC_ENOMEM, "out of memory");
    memset(r->instances, 0, (size_t)n * sizeof(*r->instances));
    for (json_int_t i = 0; i < n; i++) {
        struct cfg_instance *in = &r->instances[r->ninstances++];
        in->resource = r;
        in->count_index = json_integer(i);
        in->address = arena_printf(ar, "%s[%" JSON_INTEGER_FORMAT "]", r->address, i);
        if (in->address == NULL)
            return errbuf_set(ld->err, AMLSEC_ENOMEM, "out of memory");
    }
    return 0;
}

/* Makes r's instances: found through the for_each and count attributes
 * register_block recorded, never by reading the block's body again (long
 * out of cache by now: two scans of every block's attributes were a tenth
 * of evaluation's time at 50,000 resources). */
static int expand(struct loader *ld, struct cfg_resource *r)
{
    const struct ast_attr *fe = r->for_each_attr;
    const struct ast_attr *ca = r->count_attr;
    struct eval_ctx ectx = {.cfg = ld->cfg,
                            .diags = ld->diags,
                            .no_resources = "for_each",
                            .base_dir = r->module ? r->module->dir : ld->base_dir,
                            .module = r->module};
    json_t *v = NULL;
    struct arena *ar = &ld->cfg->arena;

    if (ca)
        return expand_count(ld, r, ca);
    if (fe == NULL) {
        r->instances = arena_alloc_align(ar, sizeof(*r->instances), _Alignof(struct cfg_instance));
        if (r->instances == NULL)
            return errbuf_set(ld->err, AMLSEC_ENOMEM, "out of memory");
        r->ninstances = 1;
        r->instances[0].resource = r;
        r->instances[0].address = r->address;
        return 0;
    }
    r->has_for_each = true;
    if (r->existing) {
        struct src_loc nl = ast_attr_name_loc(fe);
        error_at(ld, &nl, "for_each", "for_each is not supported on existing blocks");
        return 0;
    }
    ectx.sensitive = false;
    if (eval_expr(&v, &ectx, fe->value) < 0)
        return 0;
    if (for_each_sensitive(ld, fe, &ectx) ||
        ((json_is_array(v) || json_is_object(v)) && !keys_fit_addresses(ld, fe, v))) {
        json_decref(v);
        return 0;
    }
    if (json_is_array(v) || json_is_object(v)) {
        size_t n = json_is_array(v) ? json_array_size(v) : json_object_size(v);
        size_t i;
        const char *key;
        json_t *x;
        r->instances = arena_alloc_align(ar, (n ? n : 1) * sizeof(*r->instances),
                                         _Alignof(struct cfg_instance));
        if (r->instances == NULL) {
            json_decref(v);
            return errbuf_set(ld->err, AMLSEC_ENOMEM, "out of memory");
        }
#define ADD(k, val)                                                                                \
    do {                                                                                           \
        struct cfg_instance *in = &r->instances[r->ninstances++];                                  \
        in->resource = r;                                                                          \
        in->each_key = json_string(k);                                                             \
        in->each_value = json_incref(val);                                                         \
        in->address = arena_printf(ar, "%s[\"%s\"]", r->address, k);                               \
    } while (0)
        if ((r->each_index = malloc(sizeof(*r->each_index))) == NULL) {
            json_decref(v);
            return errbuf_set(ld->err, AMLSEC_ENOMEM, "out of memory");
        }
        strmap_init(r->each_index, false);
        if (json_is_array(v)) {
            struct strmap seen; /* key -> how many instances have it so far */
            strmap_init(&seen, false);
            json_array_foreach(v, i, x)
            {
                size_t earlier = 0;
                if (!json_is_string(x)) {
                    error_at(ld, &fe->value->loc, "for_each",
                             "for_each over a list needs strings; element %zu is a %s", i + 1,
                             value_type_name(x));
                    continue;
                }
                /* one error per earlier instance with this key (counted,
                 * not a scan of the instances per element) */
                strmap_get(&seen, json_string_value(x), &earlier);
                for (size_t k = 0; k < earlier; k++)
                    error_at(ld, &fe->value->loc, "for_each", "duplicate for_each key '%s'",
                             json_string_value(x));
                ADD(json_string_value(x), x);
                if (strmap_put(&seen, json_string_value(x), earlier + 1) < 0 ||
                    strmap_put(r->each_index, json_string_value(x), r->ninstances - 1) < 0) {
                    strmap_release(&seen);
                    json_decref(v);
                    return errbuf_set(ld->err, AMLSEC_ENOMEM, "out of memory");
                }
            }
            strmap_release(&seen);
        } else {
            json_object_foreach(v, key, x)
            {
                ADD(key, x);
                if (strmap_put(r->each_index, key, r->ninstances - 1) < 0) {
                    json_decref(v);
                    return errbuf_set(ld->err, AMLSEC_ENOMEM, "out of memory");
                }
            }
        }
#undef ADD
    } else {
        error_at(ld, &fe->value->loc, "for_each",
                 "for_each needs a list of strings or a map, not a %s", value_type_name(v));
    }
    json_decref(v);
    return 0;
}

/* The keys of the map literal e (at path) whose values read something
 * sensitive, into marks: a value that is itself a map literal by its own
 * keys ({ admin = { user = "u", password = var.pw } } marks
 * path.admin.password alone), any other whole (path.owner). Each item is
 * evaluated again on its own. False when that cannot be told apart (a key
 * computed from a secret, a key with a '.'). */
static bool mark_items(struct eval_ctx *ectx, const struct ast_expr *e, const char *path,
                       json_t *marks)
{
    bool ok = e->kind == EXPR_MAP;
    for (const struct ast_map_item *it = ok ? e->u.map.items : NULL; it && ok; it = it->next) {
        json_t *k = NULL, *v = NULL;
        ectx->sensitive = false;
        ok = eval_expr(&k, ectx, it->key) == 0 && json_is_string(k) && !ectx->sensitive &&
             strchr(json_string_value(k), '.') == NULL;
        if (ok && (ok = eval_expr(&v, ectx, it->value) == 0) && ectx->sensitive) {
            char p[1024];
            size_t before = json_array_size(marks);
            ok = strlen(path) + strlen(json_string_value(k)) + 2 <= sizeof(p);
            snprintf(p, sizeof(p), "%s.%s", path, ok ? json_string_value(k) : "");
            /* the inner map marked none of its own: the whole value */
            if (ok && !(it->value->kind == EXPR_MAP && mark_items(ectx, it->value, p, marks) &&
                        json_array_size(marks) > before))
                json_array_append_new(marks, json_string(p));
        }
        json_decref(k);
        json_decref(v);
    }
    return ok;
}

/* A map written as a literal ({ owner = var.secret, team = "ml" }) whose
 * value read something sensitive: marks only the keys whose values did
 * (path.owner; mark_items). False when that cannot be told apart: the
 * caller then marks the whole map. */
static bool mark_map_items(struct eval_ctx *ectx, const struct ast_expr *e, const char *path,
                           json_t *sensitive)
{
    json_t *marks = json_array();
    bool ok = marks && mark_items(ectx, e, path, marks);
    if (ok) {
        size_t i;
        json_t *p;
        json_array_foreach(marks, i, p) value_sensitive_add(sensitive, json_string_value(p));
    }
    json_decref(marks);
    ectx->sensitive = true;
    return ok;
}

/* Whether an attribute before a in b has its name (check_shape reports it):
 * the few names before it compared, not a look-up in the object built. */
static bool repeated_attr(const struct ast_body *b, const struct ast_attr *a)
{
    for (const struct ast_attr *x = b->attrs; x != a; x = x->next)
        if (x->name == a->name || (x->name[0] == a->name[0] && strcmp(x->name, a->name) == 0))
            return true;
    return false;
}

/* Evaluates a body to an object: attributes, nested blocks (repeated ones as
 * arrays). Records sensitive attribute paths. */
static json_t *eval_body(struct loader *ld, struct eval_ctx *ectx, const struct ast_body *b,
                         bool top, const char *prefix, json_t *sensitive)
{
    json_t *obj = json_object();
    for (const struct ast_attr *a = b->attrs; a; a = a->next) {
        json_t *v = NULL;
        if (top && in_list(meta_attrs, a->name))
            continue;
        if (repeated_attr(b, a))
            continue; /* repeated: reported by check_shape */
        ectx->sensitive = false;
        if (eval_expr(&v, ectx, a->value) < 0)
            continue;
        if (ectx->sensitive) {
            char path[512];
            snprintf(path, sizeof(path), "%s%s", prefix, a->name);
            if (!mark_map_items(ectx, a->value, path, sensitive))
                value_sensitive_add(sensitive, path);
        }
        json_object_set_new_nocheck(obj, a->name, v); /* an identifier: ASCII */
    }
    for (const struct ast_block *k = b->blocks; k; k = k->next) {
        json_t *sub, *prev;
        char path[512];
        if (top && strcmp(k->type, "lifecycle") == 0)
            continue;
        snprintf(path, sizeof(path), "%s%s.", prefix, k->type);
        sub = eval_body(ld, ectx, &k->body, false, path, sensitive);
        prev = json_object_get(obj, k->type);
        if (prev == NULL) {
            json_object_set_new_nocheck(obj, k->type, sub);
        } else if (json_is_array(prev)) {
            json_array_append_new(prev, sub);
        } else if (json_is_object(prev)) {
            json_t *arr = json_array();
            json_array_append(arr, prev);
            json_array_append_new(arr, sub);
            json_object_set_new_nocheck(obj, k->type, arr);
        } else {
            error_at(ld, &k->type_loc, "duplicate", "'%s' is set as an attribute and as a block",
                     k->type);
            json_decref(sub);
        }
    }
    return obj;
}

/* Tags the unknown top-level values of an instance's value (its computed
 * attributes) with their origin, so plan and apply can fill them in once
 * the instance exists. Nested values are references to other instances,
 * shared with them and tagged already: they are left alone. A reference
 * reaching into a nested block (workspace.w.identity.principal_id) is
 * tagged with the dotted path where it is evaluated (eval.c). */
static void tag_unknowns(json_t *value, const char *address)
{
    /* replaced through the iterator: no second hash lookup per key */
    for (void *it = json_object_iter(value); it; it = json_object_iter_next(value, it))
        if (value_unknown_untagged(json_object_iter_value(it)))
            json_object_iter_set_new(value, it,
                                     value_unknown_of(address, json_object_iter_key(it)));
}

/* An instance's value from its evaluated attributes: the resolver's, or
 * the front end's default. New reference. */
static json_t *make_value(const struct config *cfg, const struct cfg_instance *in)
{
    json_t *value = NULL;
    if (cfg->resolver.instance_value)
        value = cfg->resolver.instance_value(cfg->resolver.payload, cfg, in);
    if (value == NULL) {
        /* A shallow copy: the nested values are shared, never changed,
         * and a deep copy would copy every referenced resource's value
         * again (exponential in chains of references). */
        value = json_copy(in->attrs);
        if (json_object_get(value, "id") == NULL)
            json_object_set_new(value, "id", value_unknown());
    }
    return value;
}

json_t *config_instance_value(const struct config *cfg, const struct cfg_instance *cin)
{
    /* the configuration's own instance: its memory is not const */
    struct cfg_instance *in = (struct cfg_instance *)cin;
    if (in->unvalued) {
        in->unvalued = false;
        in->value_lazy = make_value(cfg, in);
    }
    return in->value_lazy;
}

void config_instance_tag(const struct config *cfg, const struct cfg_instance *cin)
{
    struct cfg_instance *in = (struct cfg_instance *)cin;
    if (in->tagged || config_instance_value(cfg, in) == NULL)
        return; /* done, or not evaluated yet */
    in->tagged = true;
    if (json_is_object(in->value_lazy))
        tag_unknowns(in->value_lazy, in->address);
}

/* A child an attribute declares (cfg_implicit): its attributes from its
 * parent's instance with the same key. */
static void eval_implicit(const struct config *cfg, struct cfg_instance *in, size_t i)
{
    const struct cfg_implicit *im = in->resource->implicit;
    const struct cfg_resource *parent = in->resource->deps[0];
    const struct cfg_instance *p = i < parent->ninstances ? &parent->instances[i] : NULL;
    const json_t *v = p && p->attrs ? json_object_get(p->attrs, im->attr) : NULL;
    size_t n = strlen(im->attr), k;
    json_t *path, *pv;
    in->attrs = json_object();
    in->sensitive = json_array();
    if (p == NULL)
        return;
    config_instance_tag(cfg, p);
    pv = config_instance_value(cfg, p);
    json_object_set_new(in->attrs, im->parent_attr, pv ? json_incref(pv) : json_string(p->address));
    if (v && !json_is_null(v))
        json_object_set_new(in->attrs, im->value_attr, json_deep_copy(v));
    json_object_set_new(in->attrs, "name", json_string(im->name));
    json_array_foreach(p->sensitive, k, path)
    {
        const char *s = json_string_value(path);
        if (s && strncmp(s, im->attr, n) == 0 && (s[n] == '\0' || s[n] == '.')) {
            char moved[512];
            snprintf(moved, sizeof(moved), "%s%s", im->value_attr, s + n);
            value_sensitive_add(in->sensitive, moved);
        }
    }
}

/* The sensitive paths of an instance whose own (in->sensitive, NULL: none)
 * are evaluated: with the catalogue's added. An instance with none of its
 * own shares its kind's array, or the empty one: most have none, and an
 * array each (and the kind's paths added to it) cost every instance. */
static void instance_paths(struct loader *ld, struct cfg_instance *in)
{
    const json_t *kind = ld->opts->resolver.sensitive_paths
                             ? ld->opts->resolver.sensitive_paths(ld->opts->resolver.payload, in)
                             : NULL;
    size_t i;
    const json_t *p;
    if (in->sensitive == NULL) {
        in->sensitive = json_array_size(kind) ? json_incref((json_t *)kind) : value_paths_none();
        return;
    }
    json_array_foreach(kind, i, p) value_sensitive_add(in->sensitive, json_string_value(p));
}

static void eval_instances(struct loader *ld, struct cfg_resource *r)
{
    /* what no resource reads: its value made only if something else reads
     * it (an output, the rules), its id now (the rules index every id); an
     * existing lookup's value is what the rules read of it: made now */
    bool later = ld->read_by_others && !ld->read_by_others[r - ld->cfg->resources] &&
                 !r->existing && !r->implicit;
    for (size_t i = 0; i < r->ninstances; i++) {
        struct cfg_instance *in = &r->instances[i];
        struct eval_ctx ectx = {.cfg = ld->cfg,
                                .diags = ld->diags,
                                .self = in,
                                .base_dir = r->module ? r->module->dir : ld->base_dir,
                                .module = r->module,
                                .reads = &in->reads};
        if (r->implicit) {
            eval_implicit(ld->cfg, in, i);
        } else {
            if (ld->paths == NULL)
                ld->paths = json_array();
            in->attrs = eval_body(ld, &ectx, &r->block->body, true, "", ld->paths);
            if (json_array_size(ld->paths)) {
                in->sensitive = ld->paths;
                ld->paths = NULL;
            }
        }
        if (ld->opts->resolver.convert_attrs && json_is_object(in->attrs))
            ld->opts->resolver.convert_attrs(ld->opts->resolver.payload, in);
        instance_paths(ld, in);
        if (later) {
            const struct cfg_resolver *rv = &ld->opts->resolver;
            in->id = rv->instance_id(rv->payload, ld->cfg, in, &ld->cfg->arena);
            in->unvalued = true;
            continue;
        }
        in->value_lazy = make_value(ld->cfg, in);
        if (json_is_object(in->value_lazy))
            in->id = json_string_value(json_object_get(in->value_lazy, "id"));
        if (!ld->opts->lazy_tags)
            config_instance_tag(ld->cfg, in);
    }
}

/* An output's attributes, then its value: one that reads a sensitive
 * value must say sensitive = true (as Terraform requires), so that a value
 * flowing from a secret is never shown by accident. */
static void eval_output(struct loader *ld, struct cfg_output *o)
{
    const struct ast_body *b = &o->block->body;
    const struct ast_attr *value = NULL;
    struct eval_ctx ectx = {.cfg = ld->cfg, .diags = ld->diags, .base_dir = ld->base_dir};

    for (const struct ast_block *k = b->blocks; k; k = k->next)
        error_at(ld, &k->type_loc, "output",
                 "an output block holds only value, sensitive and "
                 "description");
    for (const struct ast_attr *a = b->attrs; a; a = a->next) {
        json_t *v = NULL;
        if (!in_list(output_attrs, a->name)) {
            struct src_loc nl = ast_attr_name_loc(a);
            hint_nearest(
                error_at(ld, &nl, "unknown-attribute", "unknown attribute '%s' in output", a->name),
                a->name, output_attrs);
            continue;
        }
        if (strcmp(a->name, "value") == 0) {
            value = a;
            continue;
        }
        if (eval_expr(&v, &ectx, a->value) < 0)
            continue;
        if (strcmp(a->name, "sensitive") == 0) {
            if (!json_is_boolean(v))
                error_at(ld, &a->value->loc, "type", "sensitive must be true or false");
            o->sensitive = json_is_true(v);
        } else if (json_is_string(v)) {
            o->description = arena_strdup(&ld->cfg->arena, json_string_value(v));
        } else {
            error_at(ld, &a->value->loc, "type", "description must be a string");
        }
        json_decref(v);
    }
    if (value == NULL) {
        struct diag *d =
            error_at(ld, &o->block->labels->loc, "output", "output '%s' has no value", o->name);
        if (d)
            diag_set_hint(d, "add: value = EXPRESSION");
        return;
    }
    ectx.sensitive = false;
    ectx.whole_value = true; /* a whole instance is its object here, secrets and all */
    if (eval_expr(&o->value, &ectx, value->value) < 0)
        return;
    if (ectx.sensitive && !o->sensitive) {
        struct diag *d = error_at(ld, &value->value->loc, "sensitive-output",
                                  "output '%s' refers to a sensitive value", o->name);
        if (d)
            diag_set_hint(d, "set sensitive = true in the output to show it as <sensitive>");
    }
}

/* Evaluates resources dependencies first (the graph is acyclic by now). */
/* done[i]: 0 before resource i is evaluated, 1 once it is, 2 once its
 * instances' unknowns are tagged too */
static void eval_in_order(struct loader *ld, struct cfg_resource *r, unsigned char *done)
{
    size_t idx = (size_t)(r - ld->cfg->resources);
    if (done[idx])
        return;
    done[idx] = 1;
    for (size_t i = 0; i < r->ndeps; i++)
        eval_in_order(ld, r->deps[i], done);
    /* Lazily tagged, what r reads is tagged before its bodies are evaluated:
     * tags made as a reference is evaluated would lie among the blocks of
     * r's attributes, which the schema check then walks a fifth slower.
     * Each resource once: its instances are visited once in all. */
    for (size_t i = 0; ld->opts->lazy_tags && i < r->ndeps; i++) {
        size_t d = (size_t)(r->deps[i] - ld->cfg->resources);
        if (done[d] == 1) {
            done[d] = 2;
            for (size_t j = 0; j < r->deps[i]->ninstances; j++)
                config_instance_tag(ld->cfg, &r->deps[i]->instances[j]);
        }
    }
    eval_instances(ld, r);
}

static void check_depends_on(struct loader *ld, const struct ast_block *b)
{
    const struct ast_attr *a = ast_body_attr(&b->body, "depends_on");
    if (a == NULL)
        return;
    if (a->value->kind != EXPR_LIST) {
        error_at(ld, &a->value->loc, "type", "depends_on lists resources: [TYPE.NAME, ...]");
        return;
    }
    for (const struct ast_expr *x = a->value->u.list.items; x; x = x->next)
        if (x->kind != EXPR_TRAVERSAL || x->u.trav.n < 1)
            error_at(ld, &x->loc, "type", "depends_on lists resources: [TYPE.NAME, ...]");
}

/* Checks of a resource body that need no values: repeated attributes, and
 * nested blocks given a name. */
static void check_shape(struct loader *ld, const struct ast_body *b, bool top)
{
    for (const struct ast_attr *a = b->attrs; a; a = a->next) {
        const struct ast_attr *first = b->attrs;
        while (first != a && !(first->name == a->name ||
                               (first->name[0] == a->name[0] && strcmp(first->name, a->name) == 0)))
            first = first->next;
        if (first != a && !(top && in_list(meta_attrs, a->name))) {
            struct src_loc nl = ast_attr_name_loc(a), fl = ast_attr_name_loc(first);
            struct diag *d = error_at(ld, &nl, "duplicate", "duplicate attribute '%s'", a->name);
            diag_add_note(d, &fl, "first set here");
        }
    }
    for (const struct ast_block *k = b->blocks; k; k = k->next) {
        if (top && strcmp(k->type, "lifecycle") == 0)
            continue;
        if (k->nlabels)
            error_at(ld, &k->labels->loc, "label", "nested block '%s' takes no name", k->type);
        check_shape(ld, &k->body, false);
    }
}

/* Whether evaluation needs the block's body even in a check-only load. */
static bool body_needed(const struct config_opts *opts, const struct ast_block *b, bool for_each)
{
    return !opts->check_only || for_each || ast_body_attr(&b->body, "count") != NULL ||
           strcmp(b->type, "settings") == 0 || strcmp(b->type, "variable") == 0 ||
           strcmp(b->type, "locals") == 0 || strcmp(b->type, "output") == 0 ||
           strcmp(b->type, "module") == 0 || strcmp(b->type, "import") == 0 ||
           strcmp(b->type, "moved") == 0;
}

/* The child resources a resource block declares through its attributes
 * (config_opts.implicit): registered after it, depending on it alone. */
static void add_implicit(struct loader *ld, const struct cfg_module *scope,
                         const struct ast_block *b, const struct ast_block *kept, long idx)
{
    for (const struct cfg_implicit *im = ld->opts->implicit; im && im->kind; im++) {
        const struct cfg_resource *r = &ld->cfg->resources[idx];
        const struct ast_attr *a, *fe = r->for_each_attr, *ca = r->count_attr;
        bool prevent_destroy = r->lifecycle.prevent_destroy;
        long prev, child;
        if (r->existing || strcmp(r->kind, im->kind) != 0 ||
            (a = ast_body_attr(&b->body, im->attr)) == NULL)
            continue;
        prev = index_find(ld->cfg, scope, false, im->child, r->name);
        if (prev >= 0) {
            struct src_loc nl = ast_attr_name_loc(a);
            struct diag *d =
                error_at(ld, &nl, "duplicate",
                         "%s declares the %s %s.%s, which is also written out as a block", im->attr,
                         im->child, im->child, r->name);
            diag_add_note(d, &ld->cfg->resources[prev].block->type_loc, "written here");
            if (d)
                diag_set_hint(d, "keep one of the two: remove %s or the %s block", im->attr,
                              im->child);
            continue;
        }
        child = add_resource(ld, scope, kept, false, im->child, r->name);
        if (child < 0)
            continue;
        ld->cfg->resources[child].implicit = im;
        ld->cfg->resources[child].lifecycle.prevent_destroy = prevent_destroy;
        ld->cfg->resources[child].for_each_attr = fe; /* the block's: the child shares them */
        ld->cfg->resources[child].count_attr = ca;
        add_dep(ld, &(struct ref_walk){.ld = ld, .from = child}, (size_t)idx);
    }
}

/* Registers and checks one top-level block of module scope (NULL: root);
 * kept is b, or its outline when the body is released (root only). */
static void register_block(struct loader *ld, const struct cfg_module *scope,
                           const struct ast_block *b, const struct ast_block *kept)
{
    const struct ast_attr *each = ast_body_attr(&b->body, "for_each");
    long idx = collect_block(ld, scope, kept);
    if (idx >= 0) {
        struct cfg_resource *r = &ld->cfg->resources[idx];
        const struct ast_attr *ca = ast_body_attr(&b->body, "count");
        struct ref_walk w = {.ld = ld,
                             .from = idx,
                             .has_each = each != NULL,
                             .has_count = ca != NULL,
                             .module = scope};
        /* kept is b itself when either is there (body_needed): expand
         * reads them from here, not from the body again */
        r->for_each_attr = each;
        r->count_attr = ca;
        walk_body(&w, &b->body, true);
        check_depends_on(ld, b);
        parse_lifecycle(ld, r, b);
        check_shape(ld, &b->body, true);
        add_implicit(ld, scope, b, kept, idx);
    } else if (kept == b && b->nlabels == 1 && strcmp(b->type, "output") == 0) {
        struct ref_walk w = {.ld = ld, .from = -1, .module = scope};
        if (scope) {
            /* a module's output: read by its caller as module.NAME.OUTPUT */
            const struct ast_attr *v = ast_body_attr(&b->body, "value");
            const struct ast_attr *sens = ast_body_attr(&b->body, "sensitive");
            long l = add_node(ld, scope, 'o', b->labels->text, v);
            if (l < 0 && ld->rc == 0) {
                char what[200];
                snprintf(what, sizeof(what), "output \"%s\"", b->labels->text);
                error_at(ld, &b->type_loc, "duplicate", "duplicate %s", what);
                return;
            }
            if (l >= 0) {
                ld->cfg->locals[l].declared_sensitive =
                    sens && sens->value->kind == EXPR_BOOL && sens->value->u.b;
                w.local = (uint32_t)(l + 1);
            }
            for (const struct ast_attr *a = b->body.attrs; a; a = a->next) {
                struct src_loc nl = ast_attr_name_loc(a);
                if (!in_list(output_attrs, a->name))
                    hint_nearest(error_at(ld, &nl, "unknown-attribute",
                                          "unknown attribute '%s' in output", a->name),
                                 a->name, output_attrs);
                else if (a == v && l >= 0)
                    walk_value(&w, a->value);
            }
            if (v == NULL)
                error_at(ld, &b->labels->loc, "output", "output '%s' has no value",
                         b->labels->text);
        } else {
            walk_body(&w, &b->body, false);
        }
        check_shape(ld, &b->body, false);
    } else if (kept == b && b->nlabels == 0 && strcmp(b->type, "locals") == 0) {
        for (const struct ast_attr *a = b->body.attrs; a; a = a->next) {
            long l = add_node(ld, scope, 'l', a->name, a);
            struct ref_walk w = {.ld = ld, .from = -1, .local = (uint32_t)(l + 1), .module = scope};
            if (l >= 0)
                walk_value(&w, a->value);
        }
    } else if (kept == b && b->nlabels == 1 && strcmp(b->type, "module") == 0) {
        const struct ast_attr *fe = ast_body_attr(&b->body, "for_each");
        const struct ast_attr *ca = ast_body_attr(&b->body, "count");
        struct ref_walk w = {
            .ld = ld, .from = -1, .module = scope, .no_resources = "a module's for_each"};
        if (fe)
            walk_value(&w, fe->value);
        w.no_resources = "a module's count";
        if (ca)
            walk_value(&w, ca->value);
        check_depends_on(ld, b);
        check_shape(ld, &b->body, true);
    }
}

/* --- modules ---------------------------------------------------------------- */

static int bind_variables(struct loader *ld);

/* A module directory's files, parsed once however many instances use
 * them (NULL when they cannot be read: reported). */
static struct module_src *module_files(struct loader *ld, const struct ast_block *call,
                                       const char *dir, const char *realdir)
{
    struct config *cfg = ld->cfg;
    struct module_src *ms;
    DIR *d;
    struct dirent *e;
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct ast_file **tail;

    for (size_t i = 0; i < ld->nsrcs; i++)
        if (strcmp(ld->srcs[i].realdir, realdir) == 0)
            return ld->srcs[i].failed ? NULL : &ld->srcs[i];
    {
        struct module_src *grown = realloc(ld->srcs, (ld->nsrcs + 1) * sizeof(*grown));
        if (grown == NULL) {
            ld->rc = errbuf_set(ld->err, AMLSEC_ENOMEM, "out of memory");
            return NULL;
        }
        ld->srcs = grown;
    }
    ms = &ld->srcs[ld->nsrcs++];
    memset(ms, 0, sizeof(*ms));
    ms->realdir = strdup(realdir);
    ms->failed = true;
    if (ms->realdir == NULL || (d = opendir(dir)) == NULL) {
        const struct ast_attr *src = ast_body_attr(&call->body, "source");
        error_at(ld, &src->value->loc, "module", "cannot read module directory '%s': %s", dir,
                 strerror(errno));
        return NULL;
    }
    while ((e = readdir(d)) != NULL) {
        size_t len = strlen(e->d_name);
        if (len < 8 || strcmp(e->d_name + len - 7, ".amlsec") != 0 || e->d_name[0] == '.')
            continue;
        if (n == cap) {
            char **grown = realloc(names, (cap = cap ? 2 * cap : 8) * sizeof(*names));
            if (grown == NULL)
                break;
            names = grown;
        }
        if ((names[n] = arena_printf(&cfg->arena, "%s/%s", dir, e->d_name)) != NULL)
            n++;
    }
    closedir(d);
    if (n == 0) {
        const struct ast_attr *src = ast_body_attr(&call->body, "source");
        error_at(ld, &src->value->loc, "module", "no .amlsec files in module directory '%s'", dir);
        free(names);
        return NULL;
    }
    qsort(names, n, sizeof(*names), cmp_str);
    ms->failed = false;
    tail = &ms->files;
    for (size_t i = 0; i < n; i++) {
        struct src_file *src = NULL, **grown;
        struct ast_file *af = NULL;
        size_t errors = ld->parse_diags->errors;
        if (src_file_load(&src, names[i], ld->err) < 0) {
            ld->rc = AMLSEC_EIO;
            ms->failed = true;
            break;
        }
        grown = realloc(cfg->srcs, (cfg->nsrcs + 1) * sizeof(*grown));
        if (grown == NULL) {
            src_file_free(src);
            ld->rc = errbuf_set(ld->err, AMLSEC_ENOMEM, "out of memory");
            ms->failed = true;
            break;
        }
        cfg->srcs = grown;
        cfg->srcs[cfg->nsrcs++] = src;
        if (parse_file(&af, src, &cfg->arena, ld->parse_diags) < 0 ||
            ld->parse_diags->errors > errors)
            ms->failed = true;
        if (af) {
            *tail = af;
            tail = &af->next;
        }
    }
    free(names);
    return ms->failed ? NULL : ms;
}

/* The variable blocks of a module declare its inputs: each becomes a
 * lazily read value, the call's attribute of that name (evaluated where
 * the call is) or the variable's default. */
static void bind_inputs(struct loader *ld, const struct module_call *c, struct cfg_module *m,
                        const struct module_src *ms)
{
    const struct ast_block *call = c->b;
    const char *cands[256];
    size_t n = 0;

    for (const struct ast_file *f = ms->files; f; f = f->next) {
        for (const struct ast_block *b = f->body.blocks; b; b = b->next) {
            const struct ast_attr *a, *def, *ty, *sens;
            long l;
            if (strcmp(b->type, "variable") != 0)
                continue;
            if (!check_labels(ld, b, 1, "one name", "variable \"NAME\" { ... }"))
                continue;
            if (n < 255)
                cands[n++] = b->labels->text;
            for (const struct ast_attr *x = b->body.attrs; x; x = x->next) {
                struct src_loc nl = ast_attr_name_loc(x);
                if (!in_list(variable_attrs, x->name))
                    hint_nearest(error_at(ld, &nl, "unknown-attribute",
                                          "unknown attribute '%s' in variable", x->name),
                                 x->name, variable_attrs);
            }
            a = in_list(module_meta, b->labels->text) ? NULL
                                                      : ast_body_attr(&call->body, b->labels->text);
            def = ast_body_attr(&b->body, "default");
            ty = ast_body_attr(&b->body, "type");
            sens = ast_body_attr(&b->body, "sensitive");
            if (a == NULL && def == NULL) {
                struct diag *d = error_at(ld, &call->labels->loc, "missing-variable",
                                          "module '%s' needs a value for its variable '%s'",
                                          call->labels->text, b->labels->text);
                struct src_loc vl = b->labels->loc;
                diag_add_note(d, &vl, "declared here, without a default");
                if (d)
                    diag_set_hint(d, "add %s = VALUE to the module block", b->labels->text);
            }
            l = add_node(ld, m, 'v', b->labels->text, a ? a : def);
            if (l < 0) {
                if (ld->rc == 0)
                    error_at(ld, &b->type_loc, "duplicate", "duplicate variable \"%s\"",
                             b->labels->text);
                continue;
            }
            {
                struct cfg_local *v = &ld->cfg->locals[l];
                struct ref_walk w = {.ld = ld, .from = -1, .local = (uint32_t)(l + 1)};
                if (ty && ty->value->kind == EXPR_TRAVERSAL && ty->value->u.trav.n == 0 &&
                    in_list(variable_types, ty->value->u.trav.root))
                    v->type = ty->value->u.trav.root;
                else if (ty)
                    error_at(ld, &ty->value->loc, "type",
                             "unknown variable type; use string, number, bool, list, map or any");
                v->declared_sensitive = sens && sens->value->kind == EXPR_BOOL && sens->value->u.b;
                v->checked_late = ast_body_block(&b->body, "validation") != NULL;
                if (a) {
                    /* the caller's expression, in the caller's module */
                    v->eval_in = c->scope;
                    v->base_dir = c->scope ? c->scope->dir : ld->base_dir;
                    w.module = c->scope;
                    w.has_each = m->has_for_each;
                    w.has_count = m->has_count;
                } else {
                    w.module = m;
                }
                if (v->attr)
                    walk_value(&w, v->attr->value);
            }
        }
    }
    cands[n] = NULL;
    for (const struct ast_attr *a = call->body.attrs; a; a = a->next) {
        if (in_list(module_meta, a->name) || in_list(cands, a->name))
            continue;
        struct src_loc nl = ast_attr_name_loc(a);
        struct diag *d = error_at(ld, &nl, "unknown-variable", "module '%s' has no variable '%s'",
                                  call->labels->text, a->name);
        hint_nearest(d, a->name, cands);
    }
    for (const struct ast_block *k = call->body.blocks; k; k = k->next)
        error_at(ld, &k->type_loc, "module",
                 "a module block holds only source, for_each, count, depends_on and the "
                 "module's variables");
}

/* One instance of a call: its module's blocks registered in a new scope. */
static void add_instance(struct loader *ld, const struct module_call *c, struct cfg_call *call,
                         const char *dir, const char *realdir, const struct module_src *ms,
                         json_t *key, json_t *value, json_t *index)
{
    struct config *cfg = ld->cfg;
    struct cfg_module *m = arena_alloc_align(&cfg->arena, sizeof(*m), _Alignof(struct cfg_module));
    const char *name = c->b->labels->text;
    size_t first_resource = cfg->nresources;
    const struct ast_attr *deps = ast_body_attr(&c->b->body, "depends_on");

    struct cfg_module **grown = cfg->nmodules < ld->mcap
                                    ? cfg->modules
                                    : doubled(cfg->modules, &ld->mcap, sizeof(*cfg->modules));
    if (grown)
        cfg->modules = grown;
    if (m == NULL || grown == NULL) {
        ld->rc = errbuf_set(ld->err, AMLSEC_ENOMEM, "out of memory");
        json_decref(key);
        json_decref(value);
        json_decref(index);
        return;
    }
    memset(m, 0, sizeof(*m));
    m->name = name;
    m->parent = c->scope;
    m->call = c->b;
    m->dir = dir;
    m->realdir = realdir;
    m->files = ms->files;
    m->each_key = key;
    m->each_value = value;
    m->has_for_each = key != NULL;
    m->count_index = index;
    m->has_count = index != NULL;
    if (index)
        m->path = arena_printf(&cfg->arena, "%s%smodule.%s[%" JSON_INTEGER_FORMAT "]",
                               c->scope ? c->scope->path : "", c->scope ? "." : "", name,
                               json_integer_value(index));
    else
        m->path = arena_printf(&cfg->arena, "%s%smodule.%s%s%s%s", c->scope ? c->scope->path : "",
                               c->scope ? "." : "", name, key ? "[\"" : "",
                               key ? json_string_value(key) : "", key ? "\"]" : "");
    cfg->modules[cfg->nmodules++] = m;
    call->n = cfg->nmodules - call->first;
    if (cfg->index == NULL || strmap_put(&cfg->index->paths, m->path, cfg->nmodules - 1) < 0) {
        ld->rc = errbuf_set(ld->err, AMLSEC_ENOMEM, "out of memory");
        return;
    }
    for (const struct ast_file *f = ms->files; f; f = f->next) {
        for (const struct ast_attr *a = f->body.attrs; a; a = a->next) {
            struct src_loc nl = ast_attr_name_loc(a);
            error_at(ld, &nl, "top-level-attribute", "attribute '%s' is not inside a block",
                     a->name);
        }
        for (const struct ast_block *b = f->body.blocks; b; b = b->next)
            register_block(ld, m, b, b);
    }
    bind_inputs(ld, c, m, ms);
    for (const struct ast_file *f = ms->files; f; f = f->next)
        for (const struct ast_block *b = f->body.blocks; b; b = b->next)
            if (strcmp(b->type, "variable") == 0 && b->nlabels == 1)
                check_validation_shape(ld, b, m);
    /* depends_on on the call, or on a call that encloses it: every
     * resource of the instance waits for those */
    for (const struct cfg_module *p = m; p; p = p->parent) {
        deps = ast_body_attr(&p->call->body, "depends_on");
        for (size_t i = first_resource; deps && i < cfg->nresources; i++) {
            struct ref_walk w = {.ld = ld, .from = (long)i, .module = p->parent};
            walk_value(&w, deps->value);
        }
    }
}

/* The record of call c (cfg->calls), its instances to be added next. */
static struct cfg_call *new_call(struct loader *ld, const struct module_call *c)
{
    struct config *cfg = ld->cfg;
    struct cfg_call *grown =
        cfg->ncalls < ld->ccap ? cfg->calls : doubled(cfg->calls, &ld->ccap, sizeof(*cfg->calls));
    char *key = call_key(c->scope, c->b->labels->text);
    if (grown)
        cfg->calls = grown;
    if (cfg->index == NULL)
        cfg->index = index_new();
    if (grown == NULL || key == NULL || cfg->index == NULL ||
        strmap_put(&cfg->index->calls, key, cfg->ncalls) < 0) {
        free(key);
        ld->rc = errbuf_set(ld->err, AMLSEC_ENOMEM, "out of memory");
        return NULL;
    }
    free(key);
    cfg->calls[cfg->ncalls] = (struct cfg_call){
        .name = c->b->labels->text, .scope = c->scope, .block = c->b, .first = cfg->nmodules};
    return &cfg->calls[cfg->ncalls++];
}

/* A module block: its source read (a local directory), cycles between
 * sources refused, for_each evaluated, and one instance registered per
 * key (or one). */
static void instantiate(struct loader *ld, const struct module_call *c)
{
    struct config *cfg = ld->cfg;
    const struct ast_block *b = c->b;
    const struct ast_attr *src = ast_body_attr(&b->body, "source");
    const struct ast_attr *fe = ast_body_attr(&b->body, "for_each");
    const struct ast_attr *ca = ast_body_attr(&b->body, "count");
    const char *parent_dir = c->scope ? c->scope->dir : ld->base_dir, *text, *dir;
    char real[PATH_MAX];
    const struct module_src *ms;
    struct diag *d;

    if (src == NULL) {
        d = error_at(ld, &b->labels->loc, "module", "module '%s' has no source", b->labels->text);
        if (d)
            diag_set_hint(d, "add: source = \"./modules/NAME\"");
        return;
    }
    if (src->value->kind != EXPR_STRING) {
        error_at(ld, &src->value->loc, "module", "source must be a literal string");
        return;
    }
    text = src->value->u.str.s;
    if (strncmp(text, "./", 2) != 0 && strncmp(text, "../", 3) != 0) {
        d = error_at(ld, &src->value->loc, "module",
                     "only local modules are supported: source starts with ./ or ../");
        if (d)
            diag_set_hint(d, "copy the module into the configuration: source = \"./modules/NAME\"");
        return;
    }
    dir = strcmp(parent_dir, ".") == 0
              ? arena_strdup(&cfg->arena, text[1] == '/' ? text + 2 : text)
              : arena_printf(&cfg->arena, "%s/%s", parent_dir, text[1] == '/' ? text + 2 : text);
    if (dir == NULL || realpath(dir, real) == NULL) {
        error_at(ld, &src->value->loc, "module", "cannot read module directory '%s': %s",
                 dir ? dir : text, strerror(errno));
        return;
    }
    for (const struct cfg_module *p = c->scope;; p = p->parent) {
        const char *pr = p ? p->realdir : ld->root_realdir;
        if (pr && strcmp(pr, real) == 0) {
            error_at(ld, &src->value->loc, "module-cycle",
                     "module cycle: '%s' is %s%s, which would include itself again", text,
                     p ? "already loaded as " : "the root configuration", p ? p->path : "");
            return;
        }
        if (p == NULL)
            break;
    }
    if (fe && ca) {
        count_and_for_each(ld, ca, fe);
        return;
    }
    if ((ms = module_files(ld, b, dir, real)) == NULL)
        return;
    {
        const char *realdir = arena_strdup(&cfg->arena, real);
        json_t *v = NULL;
        struct diag_list *saved = ld->diags, scratch;
        size_t k = 0;
        const char *key;
        json_t *x;
        struct cfg_call *call = new_call(ld, c);
        struct eval_ctx ectx = {.cfg = cfg,
                                .diags = ld->diags,
                                .no_resources = fe ? "a module's for_each" : "a module's count",
                                .base_dir = parent_dir,
                                .module = c->scope};
        if (call == NULL)
            return;
        if (fe == NULL && ca == NULL) {
            add_instance(ld, c, call, dir, realdir, ms, NULL, NULL, NULL);
            return;
        }
        if (!ld->vars_bound) {
            /* for_each and count are known at load: the root's variables first */
            ld->vars_bound = true;
            if (bind_variables(ld) < 0)
                return;
        }
        if (ca) {
            json_int_t n = 0;
            call->has_count = true;
            if (!count_number(ld, ca, &ectx, &n))
                return;
            diag_list_init(&scratch);
            for (json_int_t i = 0; i < n; i++) {
                add_instance(ld, c, call, dir, realdir, ms, NULL, NULL, json_integer(i));
                ld->diags = &scratch;
                ld->quiet = true;
            }
            ld->diags = saved;
            ld->quiet = false;
            diag_list_release(&scratch);
            return;
        }
        call->has_for_each = true;
        ectx.sensitive = false;
        if (eval_expr(&v, &ectx, fe->value) < 0)
            return;
        if (for_each_sensitive(ld, fe, &ectx)) {
            json_decref(v);
            return;
        }
        if (!json_is_object(v) && !json_is_array(v)) {
            error_at(ld, &fe->value->loc, "for_each",
                     "for_each needs a list of strings or a map, not a %s", value_type_name(v));
            json_decref(v);
            return;
        }
        if (!keys_fit_addresses(ld, fe, v)) {
            json_decref(v);
            return;
        }
        diag_list_init(&scratch);
        /* each instance registers the same blocks: what they report is
         * reported for the first only */
        if (json_is_array(v)) {
            struct strmap seen; /* the keys so far: a repeated one is an error */
            size_t one;
            strmap_init(&seen, false);
            json_array_foreach(v, k, x)
            {
                bool repeated = json_is_string(x) && strmap_get(&seen, json_string_value(x), &one);
                if (!json_is_string(x) || repeated) {
                    struct diag_list *quiet = ld->diags;
                    ld->diags = saved; /* reported even after the first instance */
                    ld->quiet = false;
                    if (repeated)
                        error_at(ld, &fe->value->loc, "for_each", "duplicate for_each key '%s'",
                                 json_string_value(x));
                    else
                        error_at(ld, &fe->value->loc, "for_each",
                                 "for_each over a list needs strings; element %zu is a %s", k + 1,
                                 value_type_name(x));
                    ld->diags = quiet;
                    ld->quiet = quiet != saved;
                    continue;
                }
                if (strmap_put(&seen, json_string_value(x), 1) < 0) {
                    ld->rc = errbuf_set(ld->err, AMLSEC_ENOMEM, "out of memory");
                    break;
                }
                add_instance(ld, c, call, dir, realdir, ms, json_incref(x), json_incref(x), NULL);
                ld->diags = &scratch;
                ld->quiet = true;
            }
            strmap_release(&seen);
        } else {
            json_object_foreach(v, key, x)
            {
                add_instance(ld, c, call, dir, realdir, ms, json_string(key), json_incref(x), NULL);
                ld->diags = &scratch;
                ld->quiet = true;
            }
        }
        ld->diags = saved;
        ld->quiet = false;
        diag_list_release(&scratch);
        json_decref(v);
        if ((call->each_index = malloc(sizeof(*call->each_index))) == NULL) {
            ld->rc = errbuf_set(ld->err, AMLSEC_ENOMEM, "out of memory");
            return;
        }
        strmap_init(call->each_index, false);
        for (size_t i = 0; i < call->n; i++)
            if (strmap_put(call->each_index,
                           json_string_value(cfg->modules[call->first + i]->each_key), i) < 0) {
                ld->rc = errbuf_set(ld->err, AMLSEC_ENOMEM, "out of memory");
                return;
            }
    }
}

/* parse_hooks.top_block: checks each top-level block as soon as it is
 * parsed (names, the references that can be resolved already, lifecycle,
 * shape), so that a check-only load can release its body at once. */
static struct ast_block *top_block(void *payload, struct ast_block *b)
{
    struct loader *ld = payload;
    bool for_each = ast_body_attr(&b->body, "for_each") != NULL;
    struct ast_block *kept =
        body_needed(ld->opts, b, for_each) ? b : ast_block_outline(&ld->cfg->arena, b);

    if (kept == NULL || ld->rc < 0) {
        if (ld->rc == 0)
            ld->rc = errbuf_set(ld->err, AMLSEC_ENOMEM, "out of memory");
        return b;
    }
    register_block(ld, NULL, b, kept);
    return kept;
}

/* --- import and moved blocks --------------------------------------------- */

/* The address a traversal names, as text: workspace.prod,
 * private_endpoint.storage["blob"], module.team["cv"].key_vault.kv. NULL
 * (reported) when it is not a literal address. */
static const char *address_text(struct loader *ld, const struct ast_attr *a, const char *what)
{
    const struct ast_expr *e = a->value;
    struct buf b;
    const char *out = NULL;
    if (e->kind != EXPR_TRAVERSAL || e->u.trav.n == 0) {
        error_at(ld, &e->loc, "address", "%s is a resource address (TYPE.NAME), not a value", what);
        return NULL;
    }
    buf_init(&b, 0);
    buf_adds(&b, e->u.trav.root);
    for (const struct ast_step *s = e->u.trav.steps; s; s = s->next) {
        if (s->kind == STEP_ATTR) {
            buf_addf(&b, ".%s", s->name);
        } else if (s->index->kind == EXPR_STRING) {
            buf_addf(&b, "[\"%s\"]", s->index->u.str.s);
        } else if (s->index->kind == EXPR_INT && s->index->u.i >= 0) {
            buf_addf(&b, "[%" PRId64 "]", s->index->u.i); /* count's index */
        } else {
            error_at(ld, &s->index->loc, "address",
                     "an address's key is a literal string (for_each) or whole number (count)");
            buf_release(&b);
            return NULL;
        }
    }
    out = arena_strdup(&ld->cfg->arena, b.ptr ? b.ptr : "");
    buf_release(&b);
    return out;
}

static const struct ast_attr *block_attr(struct loader *ld, const struct ast_block *b,
                                         const char *const *names, const char *name)
{
    const struct ast_attr *a = ast_body_attr(&b->body, name);
    if (a == NULL) {
        struct diag *d = b->type[0] == 'i'
                             ? error_at(ld, &b->type_loc, "import", "import block needs %s", name)
                             : error_at(ld, &b->type_loc, "moved", "moved block needs %s", name);
        if (d)
            diag_set_hint(d, "%s",
                          b->type[0] == 'i'
                              ? "write it as: import { to = TYPE.NAME, id = \"ARM id\" }"
                              : "write it as: moved { from = TYPE.OLD, to = TYPE.NEW }");
    }
    (void)names;
    return a;
}

static struct cfg_resource *resource_of_address(const struct config *cfg, const char *address);

bool config_is_module_address(const char *address)
{
    size_t n = strlen(address);
    char *probe;
    bool yes;
    if (strncmp(address, "module.", 7) != 0 || (probe = malloc(n + 3)) == NULL)
        return false;
    memcpy(probe, address, n);
    memcpy(probe + n, ".x", 3);
    yes = config_address_tail(probe) == probe + n + 1;
    free(probe);
    return yes;
}

/* Whether a module address names a module of the configuration: an
 * instance (module.a["x"], module.a without for_each) or a whole call
 * (module.a, whatever its instances). */
static bool module_declared(const struct config *cfg, const char *address)
{
    size_t n = strlen(address);
    for (size_t i = 0; i < cfg->nmodules; i++) {
        const char *p = cfg->modules[i]->path;
        if (strcmp(p, address) == 0 ||
            (strncmp(p, address, n) == 0 && p[n] == '[' && address[n - 1] != ']' &&
             strstr(p + n, "].module.") == NULL))
            return true;
    }
    return false;
}

/* Whether address names a managed resource of the configuration, or one
 * of its instances (or a module, for a module address). */
static bool address_declared(const struct config *cfg, const char *address)
{
    const struct cfg_instance *in;
    if (config_is_module_address(address))
        return module_declared(cfg, address);
    in = config_find_instance(cfg, address);
    const struct cfg_resource *r = in ? in->resource : resource_of_address(cfg, address);
    return r && !r->existing && (in || strcmp(r->address, address) == 0);
}

/* An address that must name an instance of the configuration. */
static bool config_address(struct loader *ld, const struct ast_attr *a, const char *address)
{
    const struct config *cfg = ld->cfg;
    const char *cands[512];
    size_t n = 0;
    struct diag *d;
    const struct cfg_instance *in = config_find_instance(cfg, address);
    if (in && !in->resource->existing)
        return true;
    d = error_at(ld, &a->value->loc, "address", "'%s' is not a resource in the configuration",
                 address);
    for (size_t i = 0; i < cfg->nresources && n < 511; i++)
        for (size_t k = 0; k < cfg->resources[i].ninstances && n < 511; k++)
            if (!cfg->resources[i].existing)
                cands[n++] = cfg->resources[i].instances[k].address;
    cands[n] = NULL;
    hint_nearest(d, address, cands);
    return false;
}

/* Reads the import and moved blocks once every instance is known:
 * addresses checked, moves chained (A -> B, B -> C is A -> C), and
 * conflicts refused (two moves from or to one address, a cycle). */
/* Terraform's implicit moves of module calls: one that gained count moves
 * module.NAME to module.NAME[0], one that lost it (and has no for_each)
 * module.NAME[0] to module.NAME, unless a moved block names either. */
static void implicit_moves(struct loader *ld)
{
    struct config *cfg = ld->cfg;
    size_t written = cfg->nmoves;
    for (size_t i = 0; i < cfg->ncalls; i++) {
        const struct cfg_call *c = &cfg->calls[i];
        const char *path, *from, *to;
        bool named = false;
        if (c->n == 0 || c->has_for_each)
            continue;
        path = cfg->modules[c->first]->path;
        if (c->has_count)
            from = arena_printf(&cfg->arena, "%s%smodule.%s", c->scope ? c->scope->path : "",
                                c->scope ? "." : "", c->name),
            to = path;
        else
            from = arena_printf(&cfg->arena, "%s[0]", path), to = path;
        if (from == NULL) {
            ld->rc = errbuf_set(ld->err, AMLSEC_ENOMEM, "out of memory");
            return;
        }
        for (size_t k = 0; k < written && !named; k++)
            named = strcmp(cfg->moves[k].from, from) == 0 || strcmp(cfg->moves[k].to, from) == 0;
        if (!named)
            cfg->moves[cfg->nmoves++] =
                (struct cfg_moved){from, to, c->block->type_loc, .implicit = true};
    }
}

static void finish_adoption(struct loader *ld)
{
    struct config *cfg = ld->cfg;
    static const char *const import_attrs[] = {"to", "id", NULL};
    static const char *const moved_attrs[] = {"from", "to", NULL};
    size_t nblocks = 0;

    for (const struct ast_file *f = cfg->files; f; f = f->next)
        for (const struct ast_block *b = f->body.blocks; b; b = b->next)
            nblocks += strcmp(b->type, "import") == 0 || strcmp(b->type, "moved") == 0;
    if (nblocks + cfg->ncalls == 0)
        return;
    cfg->imports = arena_alloc_align(&cfg->arena, (nblocks + 1) * sizeof(*cfg->imports),
                                     _Alignof(struct cfg_import));
    cfg->moves = arena_alloc_align(&cfg->arena, (nblocks + cfg->ncalls) * sizeof(*cfg->moves),
                                   _Alignof(struct cfg_moved));
    if (cfg->imports == NULL || cfg->moves == NULL) {
        ld->rc = errbuf_set(ld->err, AMLSEC_ENOMEM, "out of memory");
        return;
    }
    for (const struct ast_file *f = cfg->files; f; f = f->next) {
        for (const struct ast_block *b = f->body.blocks; b; b = b->next) {
            bool imp = strcmp(b->type, "import") == 0;
            const char *const *attrs = imp ? import_attrs : moved_attrs;
            if (!imp && strcmp(b->type, "moved") != 0)
                continue;
            if (b->nlabels)
                continue; /* reported */
            for (const struct ast_attr *a = b->body.attrs; a; a = a->next)
                if (!in_list(attrs, a->name)) {
                    struct src_loc nl = ast_attr_name_loc(a);
                    hint_nearest(error_at(ld, &nl, "unknown-attribute",
                                          "unknown attribute '%s' in %s", a->name, b->type),
                                 a->name, attrs);
                }
            if (imp) {
                const struct ast_attr *to = block_attr(ld, b, attrs, "to");
                const struct ast_attr *id = block_attr(ld, b, attrs, "id");
                const char *addr = to ? address_text(ld, to, "to") : NULL;
                struct eval_ctx ectx = {.cfg = cfg,
                                        .diags = ld->diags,
                                        .no_resources = "an import id",
                                        .base_dir = ld->base_dir};
                json_t *v = NULL;
                if (addr == NULL || id == NULL || !config_address(ld, to, addr))
                    continue;
                if (eval_expr(&v, &ectx, id->value) < 0)
                    continue;
                if (!json_is_string(v) || json_string_value(v)[0] != '/') {
                    error_at(ld, &id->value->loc, "type", "id is an ARM resource id (a string)");
                } else {
                    for (size_t i = 0; i < cfg->nimports; i++)
                        if (strcmp(cfg->imports[i].to, addr) == 0)
                            error_at(ld, &to->value->loc, "duplicate",
                                     "'%s' is imported by two import blocks", addr);
                    cfg->imports[cfg->nimports++] = (struct cfg_import){
                        addr, arena_strdup(&cfg->arena, json_string_value(v)), b->type_loc};
                }
                json_decref(v);
            } else {
                const struct ast_attr *from = block_attr(ld, b, attrs, "from");
                const struct ast_attr *to = block_attr(ld, b, attrs, "to");
                const char *fa = from ? address_text(ld, from, "from") : NULL;
                const char *ta = to ? address_text(ld, to, "to") : NULL;
                if (fa == NULL || ta == NULL)
                    continue;
                if (strcmp(fa, ta) == 0) {
                    error_at(ld, &to->value->loc, "moved", "moved from '%s' to itself", fa);
                    continue;
                }
                if (config_is_module_address(fa) != config_is_module_address(ta)) {
                    struct diag *d =
                        error_at(ld, &to->value->loc, "moved",
                                 "'%s' is a %s and '%s' a %s: a move keeps "
                                 "a module a module and a resource a resource",
                                 fa, config_is_module_address(fa) ? "module" : "resource", ta,
                                 config_is_module_address(ta) ? "module" : "resource");
                    if (d)
                        diag_set_hint(d, "move the module (moved { from = module.OLD, to = "
                                         "module.NEW }), or each resource by its full address");
                    continue;
                }
                if (address_declared(cfg, fa)) {
                    bool mod = config_is_module_address(fa);
                    struct diag *d = error_at(ld, &from->value->loc, "moved",
                                              "'%s' is still in the configuration: it cannot "
                                              "have moved",
                                              fa);
                    if (d)
                        diag_set_hint(d,
                                      "rename the %s block to '%s', or remove the moved "
                                      "block",
                                      mod ? "module" : "resource", ta);
                    continue;
                }
                for (size_t i = 0; i < cfg->nmoves; i++) {
                    if (strcmp(cfg->moves[i].from, fa) == 0)
                        error_at(ld, &from->value->loc, "moved",
                                 "'%s' is moved twice (to '%s' and to '%s')", fa, cfg->moves[i].to,
                                 ta);
                    else if (strcmp(cfg->moves[i].to, ta) == 0)
                        error_at(ld, &to->value->loc, "moved", "'%s' and '%s' both move to '%s'",
                                 cfg->moves[i].from, fa, ta);
                }
                cfg->moves[cfg->nmoves++] = (struct cfg_moved){fa, ta, b->type_loc, false};
            }
        }
    }
    /* chains: follow each move's destination while it moves again */
    for (size_t i = 0; i < cfg->nmoves; i++) {
        size_t hops = 0;
        for (size_t k = 0; k < cfg->nmoves && hops <= cfg->nmoves; k++) {
            if (k != i && strcmp(cfg->moves[k].from, cfg->moves[i].to) == 0) {
                cfg->moves[i].to = cfg->moves[k].to;
                hops++;
                k = (size_t)-1; /* from the start again */
                if (strcmp(cfg->moves[i].to, cfg->moves[i].from) == 0)
                    break;
            }
        }
        if (hops > cfg->nmoves || strcmp(cfg->moves[i].to, cfg->moves[i].from) == 0) {
            error_at(ld, &cfg->moves[i].loc, "moved", "moved blocks form a cycle through '%s'",
                     cfg->moves[i].from);
            return;
        }
    }
    for (size_t i = 0; i < cfg->nmoves; i++) {
        if (!address_declared(cfg, cfg->moves[i].to)) {
            /* the end of a chain must be in the configuration */
            struct diag *d =
                error_at(ld, &cfg->moves[i].loc, "moved",
                         "moved to '%s', which is not a %s in the "
                         "configuration",
                         cfg->moves[i].to,
                         config_is_module_address(cfg->moves[i].to) ? "module" : "resource");
            if (d)
                diag_set_hint(d, "declare %s, or move to an address that is declared",
                              cfg->moves[i].to);
        }
    }
    implicit_moves(ld);
}

int config_load(struct config **out, const struct config_opts *opts, struct diag_list *diags,
                struct errbuf *err)
{
    struct loader ld;
    struct config *cfg = calloc(1, sizeof(*cfg));
    unsigned char *done = NULL;
    int rc;

    *out = NULL;
    if (cfg == NULL)
        return errbuf_set(err, AMLSEC_ENOMEM, "out of memory");
    arena_init(&cfg->arena);
    cfg->environ = opts->environ;
    cfg->resolver = opts->resolver;
    memset(&ld, 0, sizeof(ld));
    ld.cfg = cfg;
    ld.opts = opts;
    ld.diags = diags;
    ld.parse_diags = diags;
    ld.err = err;
    ld.edges_sorted = true; /* none yet */
    diag_list_init(&ld.checks);
    ld.checks.max_errors = diags->max_errors;
    *out = cfg;

    if ((rc = parse_all(&ld)) < 0 || opts->parse_only || diags->errors)
        goto out;
    for (struct ast_file *f = cfg->files; f; f = f->next) {
        for (const struct ast_attr *a = f->body.attrs; a; a = a->next) {
            struct src_loc nl = ast_attr_name_loc(a);
            struct diag *d = error_at(&ld, &nl, "top-level-attribute",
                                      "attribute '%s' is not inside a block", a->name);
            if (d)
                diag_set_hint(d, "put it in a resource block or in settings { ... }");
        }
    }
    {
        char real[PATH_MAX];
        if (ld.base_dir && realpath(ld.base_dir, real))
            ld.root_realdir = strdup(real);
    }
    for (size_t i = 0; i < ld.ncalls && ld.rc == 0; i++) {
        struct module_call c = ld.calls[i]; /* calls grows as modules call modules */
        instantiate(&ld, &c);
    }
    if (ld.rc < 0) {
        rc = ld.rc;
        goto out;
    }
    {
        struct diag_list scratch;
        diag_list_init(&scratch);
        for (size_t i = 0; i < ld.ndeferred; i++) {
            ld.diags = ld.deferred[i].w.quiet ? &scratch : diags;
            check_traversal(&ld.deferred[i].w, ld.deferred[i].e);
        }
        ld.diags = diags;
        diag_list_release(&scratch);
    }
    {
        struct ref_walk w = {.ld = &ld, .from = -1, .no_resources = "settings", .final = true};
        if (cfg->settings_block)
            walk_body(&w, &cfg->settings_block->body, false);
        w.no_resources = "a variable";
        w.no_locals = true;
        for (size_t i = 0; i < cfg->nvars; i++) {
            for (const struct ast_attr *a = cfg->vars[i].block->body.attrs; a; a = a->next)
                if (strcmp(a->name, "type") != 0) /* type = string is a keyword */
                    walk_value(&w, a->value);
            check_validation_shape(&ld, cfg->vars[i].block, NULL);
        }
    }
    if (ld.rc == 0 && !diags->errors)
        finish_locals(&ld);
    if (ld.rc < 0 || (rc = build_deps(&ld)) < 0) {
        rc = rc < 0 ? rc : ld.rc;
        goto out;
    }
    if (diags->errors || find_cycles(&ld))
        goto out;
    mark_late_validations(&ld);
    if (!ld.vars_bound && (rc = bind_variables(&ld)) < 0)
        goto out;
    eval_settings(&ld);
    if (diags->errors)
        goto out;
    for (size_t i = 0; i < cfg->nresources && rc == 0; i++)
        rc = expand(&ld, &cfg->resources[i]);
    if (rc == 0 && !diags->errors)
        finish_adoption(&ld);
    if (rc == 0 && !diags->errors) {
        validate_root_variables(&ld, 1);
        validate_module_inputs(&ld, false);
    }
    if (rc < 0 || diags->errors || opts->check_only)
        goto out;
    done = calloc(cfg->nresources ? cfg->nresources : 1, 1);
    if (done == NULL) {
        rc = errbuf_set(err, AMLSEC_ENOMEM, "out of memory");
        goto out;
    }
    if (opts->lazy_tags && opts->resolver.instance_id &&
        (ld.read_by_others = calloc(cfg->nresources ? cfg->nresources : 1, 1)) != NULL)
        for (size_t i = 0; i < cfg->nresources; i++)
            for (size_t j = 0; j < cfg->resources[i].ndeps; j++)
                ld.read_by_others[cfg->resources[i].deps[j] - cfg->resources] = 1;
    for (size_t i = 0; i < cfg->nresources; i++)
        eval_in_order(&ld, &cfg->resources[i], done);
    validate_root_variables(&ld, 2);
    validate_module_inputs(&ld, true);
    for (size_t i = 0; i < cfg->noutputs; i++)
        eval_output(&ld, &cfg->outputs[i]);
out:
    free(done);
    free(ld.read_by_others);
    json_decref(ld.paths);
    free(ld.base_dir);
    free(ld.edges);
    free(ld.deferred);
    free(ld.lrefs);
    free(ld.consts);
    free(ld.calls);
    for (size_t i = 0; i < ld.nsrcs; i++)
        free(ld.srcs[i].realdir);
    free(ld.srcs);
    free(ld.root_realdir);
    diag_list_release(&ld.checks);
    if (rc == 0 && diags->errors)
        rc = AMLSEC_EPARSE;
    return rc;
}

void config_free(struct config *cfg)
{
    if (cfg == NULL)
        return;
    for (size_t i = 0; i < cfg->nresources; i++) {
        struct cfg_resource *r = &cfg->resources[i];
        if (r->each_index) {
            strmap_release(r->each_index);
            free(r->each_index);
        }
        for (size_t k = 0; k < r->ninstances; k++) {
            json_decref(r->instances[k].each_key);
            json_decref(r->instances[k].each_value);
            json_decref(r->instances[k].count_index);
            json_decref(r->instances[k].attrs);
            json_decref(r->instances[k].sensitive);
            json_decref(r->instances[k].value_lazy);
            free(r->instances[k].reads.v);
        }
    }
    free(cfg->resources);
    for (size_t i = 0; i < cfg->nchecks; i++) {
        json_decref(cfg->checks[i].condition);
        json_decref(cfg->checks[i].message);
    }
    free(cfg->checks);
    for (size_t i = 0; i < cfg->nvars; i++)
        json_decref(cfg->vars[i].value);
    free(cfg->vars);
    for (size_t i = 0; i < cfg->nlocals; i++) {
        json_decref(cfg->locals[i].value);
        json_decref(cfg->locals[i].paths);
        free(cfg->locals[i].reads.v);
    }
    for (size_t i = 0; i < cfg->noutputs; i++)
        json_decref(cfg->outputs[i].value);
    free(cfg->outputs);
    for (size_t i = 0; i < cfg->nmodules; i++) {
        json_decref(cfg->modules[i]->each_key);
        json_decref(cfg->modules[i]->each_value);
        json_decref(cfg->modules[i]->count_index);
    }
    free(cfg->modules);
    for (size_t i = 0; i < cfg->ncalls; i++)
        if (cfg->calls[i].each_index) {
            strmap_release(cfg->calls[i].each_index);
            free(cfg->calls[i].each_index);
        }
    free(cfg->calls);
    free(cfg->locals);
    free(cfg->local_slots);
    json_decref(cfg->settings);
    for (size_t i = 0; i < cfg->nsrcs; i++)
        src_file_free(cfg->srcs[i]);
    free(cfg->srcs);
    index_free(cfg->index);
    arena_release(&cfg->arena);
    free(cfg);
}

struct cfg_resource *config_find_in(const struct config *cfg, const struct cfg_module *module,
                                    bool existing, const char *kind, const char *name)
{
    if (cfg->index) {
        long i = index_find(cfg, module, existing, kind, name);
        return i >= 0 ? &cfg->resources[i] : NULL;
    }
    for (size_t i = 0; i < cfg->nresources; i++) {
        struct cfg_resource *r = &cfg->resources[i];
        if (r->existing == existing && r->module == module && strcmp(r->kind, kind) == 0 &&
            strcmp(r->name, name) == 0)
            return r;
    }
    return NULL;
}

const struct cfg_call *config_find_call(const struct config *cfg, const struct cfg_module *scope,
                                        const char *name)
{
    char *key;
    size_t i;
    bool found;
    if (cfg->index == NULL || (key = call_key(scope, name)) == NULL)
        return NULL;
    found = strmap_get(&cfg->index->calls, key, &i);
    free(key);
    cfg->index->work++;
    if (found && i < cfg->ncalls && cfg->calls[i].scope == scope)
        return &cfg->calls[i];
    /* two instances with one path (a for_each list that repeats a key) */
    for (i = 0; found && i < cfg->ncalls; i++)
        if (cfg->calls[i].scope == scope && strcmp(cfg->calls[i].name, name) == 0)
            return &cfg->calls[i];
    return NULL;
}

const struct cfg_module *config_call_instance(const struct config *cfg, const struct cfg_call *call,
                                              const json_t *key)
{
    size_t i;
    if (cfg->index)
        cfg->index->work++;
    if (call->has_count && json_is_number(key)) {
        /* instances are registered in index order */
        double d = json_number_value(key);
        if (d >= 0 && d < (double)call->n && d == (double)(size_t)d)
            return cfg->modules[call->first + (size_t)d];
    } else if (call->has_for_each && call->each_index && json_is_string(key) &&
               strmap_get(call->each_index, json_string_value(key), &i) && i < call->n) {
        return cfg->modules[call->first + i];
    }
    return NULL;
}

size_t config_lookup_work(const struct config *cfg)
{
    return cfg->index ? cfg->index->work : 0;
}

struct cfg_resource *config_find(const struct config *cfg, bool existing, const char *kind,
                                 const char *name)
{
    return config_find_in(cfg, NULL, existing, kind, name);
}

/* The resource an address names: [existing.]KIND.NAME, then ["KEY"] for a
 * for_each instance. A name may itself hold dots or brackets, so this is a
 * guess that the caller confirms by comparing the instance's address. */
static struct cfg_resource *resource_of_address(const struct config *cfg, const char *address)
{
    char buf[512];
    const struct cfg_module *m = NULL;
    if (strncmp(address, "module.", 7) == 0) {
        /* the longest module path the address starts with: each prefix
         * ending before a '.', longest first, looked up by path (every
         * module's path compared per address was n^2 for a plan of n
         * module instances) */
        size_t n = strlen(address), mi;
        if (cfg->index == NULL || n >= sizeof(buf))
            return NULL;
        memcpy(buf, address, n + 1);
        while (n-- > 7 && m == NULL) {
            if (buf[n] != '.')
                continue;
            buf[n] = '\0';
            cfg->index->work++;
            if (strmap_get(&cfg->index->paths, buf, &mi) && mi < cfg->nmodules)
                m = cfg->modules[mi];
        }
        if (m == NULL)
            return NULL;
        address += strlen(m->path) + 1;
    }
    bool existing = strncmp(address, "existing.", 9) == 0;
    const char *kind = existing ? address + 9 : address, *dot = strchr(kind, '.');
    size_t n = strlen(address), kind_len;
    char *name;
    if (dot == NULL || n >= sizeof(buf))
        return NULL;
    memcpy(buf, address, n + 1);
    kind_len = (size_t)(dot - kind);
    buf[(size_t)(kind - address) + kind_len] = '\0';
    name = buf + (size_t)(dot + 1 - address);
    if (n >= 2 && address[n - 1] == ']') {
        char *open = strstr(name, "[\"");
        if (open == NULL) { /* count: TYPE.NAME[N] */
            open = strrchr(name, '[');
            if (open && !(open[1] >= '0' && open[1] <= '9'))
                open = NULL;
        }
        if (open)
            *open = '\0';
    }
    return config_find_in(cfg, m, existing, buf + (kind - address), name);
}

const char *config_address_tail(const char *address)
{
    const char *a = address;
    while (strncmp(a, "module.", 7) == 0) {
        const char *p = a + 7;
        p += strcspn(p, ".[");
        if (*p == '[' && p[1] == '"') {
            for (p += 2; *p && !(*p == '"' && p[1] == ']'); p++)
                if (*p == '\\' && p[1])
                    p++;
            if (*p == '\0')
                return a;
            p += 2;
        } else if (*p == '[') {
            p = strchr(p, ']');
            if (p == NULL)
                return a;
            p++;
        }
        if (*p != '.')
            return a;
        a = p + 1;
    }
    return a;
}

/* r's instance at address through its key (each_index, or count's
 * position), or NULL when the key is not told that simply (a scan then). */
static struct cfg_instance *instance_by_key(struct cfg_resource *r, const char *address)
{
    size_t n = strlen(r->address), len = strlen(address), i;
    char key[512];
    if (len <= n + 2 || strncmp(address, r->address, n) != 0 || address[n] != '[' ||
        address[len - 1] != ']')
        return NULL;
    if (r->has_count) {
        char *end;
        long long v = strtoll(address + n + 1, &end, 10);
        i = (size_t)v;
        if (end != address + len - 1 || v < 0 || i >= r->ninstances)
            return NULL;
    } else if (r->has_for_each && r->each_index && address[n + 1] == '"' && len >= n + 4 &&
               address[len - 2] == '"' && len - n - 4 < sizeof(key)) {
        memcpy(key, address + n + 2, len - n - 4);
        key[len - n - 4] = '\0';
        if (strchr(key, '\\') || !strmap_get(r->each_index, key, &i) || i >= r->ninstances)
            return NULL;
    } else {
        return NULL;
    }
    return r->instances[i].address && strcmp(r->instances[i].address, address) == 0
               ? &r->instances[i]
               : NULL;
}

struct cfg_instance *config_find_instance(const struct config *cfg, const char *address)
{
    struct cfg_resource *r = resource_of_address(cfg, address);
    struct cfg_instance *in = r ? instance_by_key(r, address) : NULL;
    if (cfg->index)
        cfg->index->work++;
    if (in)
        return in;
    for (size_t k = 0; r && k < r->ninstances; k++) {
        if (cfg->index)
            cfg->index->work++;
        if (r->instances[k].address && strcmp(r->instances[k].address, address) == 0)
            return &r->instances[k];
    }
    if (cfg->index && !cfg->index->odd_names)
        return NULL;
    for (size_t i = 0; i < cfg->nresources; i++)
        for (size_t k = 0; k < cfg->resources[i].ninstances; k++)
            if (cfg->resources[i].instances[k].address &&
                strcmp(cfg->resources[i].instances[k].address, address) == 0)
                return &cfg->resources[i].instances[k];
    return NULL;
}

static struct src_loc find_loc(const struct cfg_instance *inst, const char *path, bool name_only)
{
    const struct ast_block *blk = inst->resource->block;
    const struct ast_body *body = &blk->body;
    struct src_loc loc = blk->type_loc;
    const struct cfg_implicit *im = inst->resource->implicit;
    char seg[256];

    if (im) {
        /* a declared child: its value is the declaring attribute's */
        const struct ast_attr *a = ast_body_attr(body, im->attr);
        size_t n = strlen(im->value_attr);
        if (a && strncmp(path, im->value_attr, n) == 0 && (path[n] == '\0' || path[n] == '.'))
            return name_only ? ast_attr_name_loc(a) : a->loc;
        return loc;
    }

    while (*path) {
        size_t n = strcspn(path, ".");
        const struct ast_attr *a;
        const struct ast_block *k;
        if (n >= sizeof(seg))
            break;
        memcpy(seg, path, n);
        seg[n] = '\0';
        path += n + (path[n] == '.');
        if ((a = ast_body_attr(body, seg)) != NULL) {
            /* a key of a map written out in place (tags = { n = [1] }): its value */
            const struct ast_map_item *it = NULL;
            if (!name_only && *path && a->value && a->value->kind == EXPR_MAP)
                for (it = a->value->u.map.items; it; it = it->next)
                    if (it->key && it->key->kind == EXPR_STRING && it->value &&
                        strlen(path) == it->key->u.str.len &&
                        memcmp(path, it->key->u.str.s, it->key->u.str.len) == 0)
                        break;
            return it ? it->value->loc : name_only ? ast_attr_name_loc(a) : a->loc;
        }
        if ((k = ast_body_block(body, seg)) == NULL)
            break;
        loc = k->type_loc;
        body = &k->body;
    }
    return loc;
}

struct src_loc config_attr_loc(const struct cfg_instance *inst, const char *path)
{
    return find_loc(inst, path, false);
}

struct src_loc config_attr_name_loc(const struct cfg_instance *inst, const char *path)
{
    return find_loc(inst, path, true);
}
