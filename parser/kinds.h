/* The resource kinds a configuration may declare, for config_opts.kinds.
 * Until the resource catalogue (providers/arm) provides its own list, this
 * is the one list the CLI, the fuzz target and the benchmark share. */
#ifndef AMLSEC_PARSER_KINDS_H
#define AMLSEC_PARSER_KINDS_H

/* NULL-terminated; static storage. */
const char *const *kinds_builtin(void);

#endif
