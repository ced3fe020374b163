/* The resource catalogue: one table-driven schema per resource kind.
 *
 * A kind says which ARM resource it is (type, api-version, how its id is
 * built, how each verb completes) and, for every attribute, how the DSL
 * value maps onto the ARM JSON body, whether the service lets it change
 * (create-only: a change means replace; "no disable": a change from true
 * to false is impossible), whether it is read back (write-only) or must
 * never be printed (sensitive), and how two values compare (normaliser).
 *
 * The planner, applier, drift, renderers and rules all read these tables;
 * nothing here talks to the network. Facts come from
 * shared/reference/arm-api.md; each kind's doc string says where a fact
 * came from when it is not in that file. */
#ifndef AMLSEC_PROVIDERS_ARM_SCHEMA_H
#define AMLSEC_PROVIDERS_ARM_SCHEMA_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "parser/config.h"
#include "parser/diag.h"
#include "providers/arm/kind.h"
#include "providers/provider.h"
#include "util/buf.h"

enum schema_type {
    ST_STRING,
    ST_INT,
    ST_BOOL,
    ST_LIST,  /* of strings */
    ST_MAP,   /* string keys, any values */
    ST_REF,   /* a reference to another resource (object with "id") or an ARM id string */
    ST_BLOCK, /* a nested block */
    ST_ANY,
};

enum schema_flag {
    SF_REQUIRED = 1u << 0,
    SF_COMPUTED = 1u << 1,    /* read-only: set by the service, never sent */
    SF_CREATE_ONLY = 1u << 2, /* a change means destroy + create */
    SF_WRITE_ONLY = 1u << 3,  /* sent, never read back: not compared on drift */
    SF_SENSITIVE = 1u << 4,   /* never printed: "(sensitive)" */
    SF_NO_DISABLE = 1u << 5,  /* true -> false is impossible (Key Vault protection) */
    SF_ALWAYS = 1u << 6,      /* ST_BLOCK: rendered with its defaults even when absent */
    SF_REPEAT = 1u << 7,      /* ST_BLOCK: may appear more than once */
    /* kinds updated through a data plane (update_via): which request a change needs */
    SF_DP_NEW_VERSION = 1u << 8, /* a new key version (key type, size, curve) */
    SF_DP_POLICY = 1u << 9,      /* the rotation policy (a PUT of all of it) */
    /* ST_MAP of strings (ARM tags): numbers and bools become their text,
     * as Terraform's map(string) converts them; anything else is an error */
    SF_STRING_VALUES = 1u << 10,
};

/* How two values of an attribute compare (drift, plan). */
enum schema_norm {
    SN_NONE,
    SN_ID,      /* ARM ids: case-insensitive */
    SN_ID_SET,  /* lists of ARM ids, order and case ignored */
    SN_CIDR,    /* lists of IPv4 rules: "1.2.3.4" == "1.2.3.4/32", order ignored */
    SN_KEY_URI, /* Key Vault key URIs: ":443" dropped, host case ignored */
    SN_SET,     /* lists that are sets */
    SN_ENUM,    /* enum spellings: case, '_' and '-' ignored */
};

/* How a DSL value becomes the ARM value (and back, for decoding). */
enum schema_conv {
    SC_NONE,          /* as is */
    SC_ENUM,          /* matched against `allowed` ignoring case/'_'/'-', sent in ARM spelling */
    SC_ENABLED,       /* bool -> "Enabled" / "Disabled" */
    SC_ENABLED_LOWER, /* bool -> "enabled" / "disabled" (Key Vault) */
    SC_NOT,           /* bool sent negated (local_auth -> disableLocalAuth) */
    SC_TRUE_ONLY,     /* bool sent only when true (ARM refuses false) */
    SC_ID,            /* reference or id string -> the id string */
    SC_REF_FIELD,     /* reference -> ref[field] */
    SC_OBJ_LIST,      /* list of strings -> [{field: s}] */
    SC_JOIN,          /* list of strings -> "A, B" ("None" when empty) */
    SC_WRAP_LIST,     /* string -> [string] */
    SC_ID_MAP,        /* list of ids -> {id: {}} (user-assigned identities) */
    SC_PARAMS,        /* map {k = v} -> {k: {value: v}} (policy parameters) */
    SC_ROLE,          /* built-in role name, GUID, id or role_definition -> roleDefinitionId */
    SC_POLICY_DEF,    /* built-in policy GUID or id -> policyDefinitionId */
    SC_ENFORCE,       /* bool -> "Default" / "DoNotEnforce" */
    SC_LOGS,          /* list of categories/groups -> [{category|categoryGroup, enabled}] */
    SC_METRICS,       /* list of metric categories -> [{category, enabled}] */
    SC_ID_SEGMENT,    /* id string -> the name after segment `field` ("virtualNetworks") */
    SC_LIFETIME,      /* rotation policy: field "rotate:timeBeforeExpiry" -> lifetimeActions[] */
    SC_DEDICATED,     /* bool -> "Dedicated" or omitted */
    SC_UNIX_TIME,     /* RFC 3339 UTC "2027-06-30T00:00:00Z" -> seconds since 1970 (key expiry) */
    SC_ZONE_CONFIGS,  /* list of private DNS zone ids -> [{name, properties{privateDnsZoneId}}] */
    SC_KEY_PROPS,     /* key reference or versioned key URI -> {keyvaulturi, keyname, keyversion}
                       * (storage account CMK) */
    SC_OUTBOUND,      /* {name = {type, destination | target, subresource | service_tag, protocol,
                       * ports}} -> managed network outboundRules {name: {type, category, destination}}
                       */
    SC_POLICY_REFS,   /* [{definition, parameters, reference_id}] -> [{policyDefinitionId,
                       * parameters{k: {value}}, policyDefinitionReferenceId}] (initiatives) */
};

struct schema_block;

/* One mapping of a DSL attribute onto the ARM body. */
struct schema_map {
    const char *path; /* relative to the block's base: "properties.hbiWorkspace", "[0]" allowed */
    enum schema_conv conv;
    const char *field; /* SC_REF_FIELD, SC_OBJ_LIST, SC_ID_SEGMENT, SC_LIFETIME */
    unsigned flags;    /* SF_CREATE_ONLY ... for this ARM field */
};

struct schema_attr {
    const char *name;
    enum schema_type type;
    unsigned flags;
    struct schema_map map;      /* map.path NULL: DSL only (e.g. used by the id template) */
    struct schema_map map2;     /* an optional second ARM field fed by the same value */
    const char *def;            /* JSON text of the DSL default, NULL: none */
    const char *const *allowed; /* NULL-terminated ARM spellings (strings and list items) */
    long min, max;              /* ST_INT range, ST_LIST item count, when min < max */
    enum schema_norm norm;
    const struct schema_block *block; /* ST_BLOCK */
    const char *const *ref_kinds;     /* ST_REF: kinds it may name (NULL: any) */
    const char *doc;
};

struct schema_const {
    const char *path; /* relative to the block's base */
    const char *json; /* JSON text; "{name}" stands for the resource name */
};

struct schema_block {
    const char *base;                  /* JSON path prefix of its attributes ("" at the top) */
    const struct schema_attr *attrs;   /* terminated by name NULL */
    const struct schema_const *consts; /* terminated by path NULL; sent with the block */
};

/* Verbs a kind does not have (its LRO entry is then meaningless). */
enum schema_no_verb {
    SCHEMA_NO_PUT = 1u << 0,    /* existing-only kinds: GET only */
    SCHEMA_NO_PATCH = 1u << 1,  /* updates are PUTs (or the data plane) */
    SCHEMA_NO_DELETE = 1u << 2, /* e.g. keys: deleted through the data plane */
};

enum schema_name_rule {
    NAME_LABEL, /* `name` attribute, default: the block label */
    NAME_GUID,  /* `name` attribute, default: a GUID derived from the id inputs */
    NAME_PE,    /* `name` attribute, default: "pe-<target name>-<subresource>" */
    NAME_PLAN,  /* no `name`: the `plan` attribute in its ARM spelling (defender_plan) */
};

struct schema_kind {
    const char *name; /* DSL kind: "workspace" */
    /* What the ARM client needs (providers/arm/kind.h): ARM type,
     * api-version, the LRO pattern of PUT/PATCH/DELETE (arm-api.md 2), and
     * whether Resource Graph's `resources` table carries it. */
    struct arm_kind_info arm;
    /* How the id is built: literal text plus
     *   {sub}          settings.subscription
     *   {name}         the resource name
     *   {rg:A,B}       the resource group id from attribute A (a resource_group
     *                  reference or a name), else the resource group of B's id
     *   {parent:A}     the id of the resource attribute A references
     *   {scope:A}      the id attribute A names (a reference or an id string),
     *                  the subscription when A is absent */
    const char *id_template;
    unsigned no_verbs; /* enum schema_no_verb bits */
    enum schema_name_rule name_rule;
    const char *name_pattern; /* POSIX ERE the name must match, NULL: any */
    bool located;             /* has a `location` (default: parent's, else settings.location) */
    bool existing_only;       /* only as `existing` (subnet, virtual_network) */
    bool replace_on_change;   /* every change recreates it (locks) */
    const char *update_via;   /* NULL: ARM; else how updates go (key: Key Vault data plane) */
    struct schema_block body;
    const char *doc;
};

/* Every kind, terminated by name NULL. */
extern const struct schema_kind schema_kinds[];
/* The kind names, NULL-terminated, for config_opts.kinds. */
extern const char *const schema_kind_names[];
/* Attributes that declare child resources (config_opts.implicit): a
 * private_endpoint's dns_zones is its DNS zone group "default". */
extern const struct cfg_implicit schema_implicit[];

const struct schema_kind *schema_find(const char *kind);
/* The kind whose ARM type is arm_type (case-insensitive), or NULL. */
const struct schema_kind *schema_find_by_type(const char *arm_type);
/* The ARM client's view of a kind (an arm_kind_lookup_fn for
 * arm_provider_opts.lookup): NULL for types not in the catalogue. */
const struct arm_kind_info *schema_arm_kind(const char *arm_type, void *payload);
/* Finds an attribute by path ("network_acls.default_action") or NULL. */
const struct schema_attr *schema_attr_find(const struct schema_kind *k, const char *path);
/* The attribute named name (no dots) in one block, or NULL. */
const struct schema_attr *schema_block_attr(const struct schema_block *b, const char *name);
/* The full ARM body path of the attribute at path (its first mapping:
 * "encryption.key" -> "properties.encryption.keyVaultProperties.
 * keyIdentifier"). AMLSEC_ENOTFOUND when it has none or out is too small. */
int schema_arm_path(char *out, size_t size, const struct schema_kind *k, const char *path);
/* For kinds with update_via (Key Vault keys): the data-plane request a
 * change of the attribute at path needs, one enum provider_data_plane_part
 * bit (providers/provider.h): a new version, the rotation policy, or else
 * the current version's attributes. 0 for an unknown path. */
unsigned schema_data_plane_parts(const struct schema_kind *k, const char *path);
/* True when the attribute at path holds a CMK's versioned key URI and may
 * change in place: a change is a key rotation, which ARM takes as a PATCH
 * of that field alone (workspace encryption.key, encryption.key_uri). */
bool schema_is_key_version(const struct schema_kind *k, const char *path);

/* Schema-level checks of one instance: unknown attributes (with the
 * nearest valid name), wrong types, bad enum values, ranges, name
 * patterns, missing required attributes, `existing`-only kinds, private
 * endpoint sub-resources against their target. Appends diagnostics;
 * returns how many errors it added. */
size_t schema_validate_instance(const struct config *cfg, const struct cfg_instance *inst,
                                struct diag_list *diags);
/* Whether name matches k's name pattern (true without one): the simple
 * patterns (bracket expressions with counts) without regexec, the others
 * through it. */
bool schema_name_matches(const struct schema_kind *k, const char *name);
/* Runs schema_validate_instance over every instance of cfg, and checks that
 * every resource kind is in the catalogue. Returns the number of errors. */
size_t schema_validate_config(const struct config *cfg, struct diag_list *diags);

/* Normalising comparison of two DSL values of attribute a (either may be
 * NULL = absent; absent compares equal to the default). */
bool schema_values_equal(const struct schema_attr *a, const json_t *x, const json_t *y);
/* Normalised copy of v for attribute a (new reference). */
json_t *schema_normalise(const struct schema_attr *a, const json_t *v);

enum schema_change {
    CHANGE_NONE,
    CHANGE_UPDATE,     /* in place */
    CHANGE_REPLACE,    /* destroy + create */
    CHANGE_IMPOSSIBLE, /* the service refuses it (turning purge protection off) */
};

const char *schema_change_name(enum schema_change c);
/* The language's word for an attribute type: "string", "number", "reference", ... */
const char *schema_type_name(enum schema_type t);

/* One attribute-level difference found by schema_diff. */
struct schema_diff_entry {
    char path[256]; /* as long as the walk's own buffer (schema_diff) */
    enum schema_change change;
    const char *why; /* static text: which ARM rule decides it */
};

/* Compares an instance's attributes before (e.g. from state) and after
 * (configuration) and classifies each difference. The result is the worst
 * change; up to max entries are stored in out (n_out set). Write-only and
 * computed attributes are compared only when present in both. */
enum schema_change schema_diff(const struct schema_kind *k, const json_t *before,
                               const json_t *after, struct schema_diff_entry *out, size_t max,
                               size_t *n_out);

/* JSON path helpers over dotted paths with [N] indexes ("a.b[0].c"). */
const json_t *schema_json_get(const json_t *root, const char *path);
/* Sets (stealing v) creating objects/arrays on the way. 0 or -1. */
int schema_json_set(json_t *root, const char *path, json_t *v);

/* An SF_STRING_VALUES map with its numbers and bools as their text (2.5,
 * 1e+20 and a big number in all its digits, "true"), a new object; NULL
 * when it holds none (or is no map): keep it as it is. */
json_t *schema_string_values(const json_t *map);

/* What an SF_STRING_VALUES map's value is when it can be no string: "null",
 * "a list" or "a map"; NULL for a string, number, bool or unknown. The
 * error says SCHEMA_TAG_VALUE_FMT (the path, then that). */
const char *schema_tag_value_wrong(const json_t *item);
#define SCHEMA_TAG_VALUE_FMT                                                                       \
    "'%s' is %s: tag values are strings (a number or bool becomes its text)"

/* The same in an ARM body of kind k, in place: tags whose values were
 * known only once apply filled them in (a bool made by `!` on an id).
 * 0; -1 when such a value turned out a list, a map or null, with the
 * error (SCHEMA_TAG_VALUE_FMT, "tags.KEY") in why: it is not sent. */
int schema_body_strings(const struct schema_kind *k, json_t *body, struct buf *why);

/* DSL value -> ARM value for one mapping of attribute a (new reference), or
 * NULL when nothing is sent. Unknown values stay unknown. subscription
 * completes role ids. */
json_t *schema_to_arm(const struct schema_attr *a, const struct schema_map *m, const json_t *v,
                      const char *subscription);
/* ARM value -> DSL value for the first mapping (decoding a GET), new
 * reference or NULL. For SC_REF_FIELD the result is {field: value}. */
json_t *schema_from_arm(const struct schema_attr *a, const struct schema_map *m, const json_t *arm);
/* The id a reference value names: obj["id"] or the string itself; NULL otherwise.
 * Borrowed; may be an unknown value. */
const json_t *schema_ref_id(const json_t *v);
/* The value an attribute takes: v, else its default (new reference or NULL). */
json_t *schema_effective(const struct schema_attr *a, const json_t *v);

/* "YYYY-MM-DDTHH:MM:SSZ" -> seconds since 1970-01-01 (SC_UNIX_TIME). Returns
 * false for anything else, out-of-range fields included. */
bool schema_time_parse(const char *s, long long *out);

/* Enum matching: the allowed spelling matching s ignoring case, '_' and '-'. */
const char *schema_enum_match(const char *const *allowed, const char *s);

/* Documentation generated from the tables: Markdown (docs/resources.md),
 * JSON per kind (new reference) and a short text summary per kind. */
int schema_markdown(struct buf *out);
json_t *schema_kind_to_json(const struct schema_kind *k);
int schema_text(struct buf *out, const struct schema_kind *k);
const char *schema_lro_name(enum lro_pattern lro);

/* Built-in role definitions (name -> GUID) for role_assignment.role. */
const char *schema_builtin_role(const char *name);
extern const char *const schema_builtin_role_names[];

#endif
