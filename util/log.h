/* Logging without printing: the library calls log_msg(); cmd/ installs the
 * sink that writes (STYLE rule 1: the library never prints). With no sink,
 * messages are dropped. Callers must redact secrets before logging; the
 * ARM client's redaction lives next to the code that knows the secrets. */
#ifndef AMLSEC_UTIL_LOG_H
#define AMLSEC_UTIL_LOG_H

enum log_level { LOG_ERROR, LOG_WARN, LOG_INFO, LOG_DEBUG, LOG_TRACE };

typedef void (*log_sink_fn)(enum log_level level, const char *msg, void *payload);

void log_set_sink(enum log_level max_level, log_sink_fn sink, void *payload);
int log_enabled(enum log_level level);
void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Parses AMLSEC_LOG values: error, warn, info, debug, trace. -1 if unknown. */
int log_level_parse(const char *s);

#endif
