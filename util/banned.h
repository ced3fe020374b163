/* Included last in every .c file: unsafe libc calls become compile errors
 * (git banned.h, curl's banned list; STYLE rule 13). */
#ifndef AMLSEC_UTIL_BANNED_H
#define AMLSEC_UTIL_BANNED_H

#define BANNED(func) sorry_##func##_is_a_banned_function

#undef strcpy
#define strcpy(x, y) BANNED(strcpy)
#undef strcat
#define strcat(x, y) BANNED(strcat)
#undef strncpy
#define strncpy(x, y, n) BANNED(strncpy)
#undef sprintf
#define sprintf(...) BANNED(sprintf)
#undef vsprintf
#define vsprintf(...) BANNED(vsprintf)
#undef strtok
#define strtok(x, y) BANNED(strtok)
#undef gmtime
#define gmtime(t) BANNED(gmtime)
#undef localtime
#define localtime(t) BANNED(localtime)
#undef atoi
#define atoi(s) BANNED(atoi)
/* its text comes from jansson's allocator (validate's region, util/arena.h),
 * which free() must not see: jsonw_dumps (util/jsonw.h) */
#undef json_dumps
#define json_dumps(v, f) BANNED(json_dumps)

#endif
