/*
 * confval.h - reading settings without surprises: numbers, file names,
 * secret files, unknown names. Installed for backends (stratus/core/).
 *
 * Debian 12's libconfig 1.5 keeps a plain integer literal in 32 bits and
 * wraps it silently: 2147483648 reads as -2147483648, 4294967296 as 0,
 * 5000000000 as 705032704 (with an L suffix it reads right). These
 * readers look at the literal's own text on its source line and refuse
 * such a number, and they take byte sizes as strings with a unit
 * ("512 KiB", "64 MiB", "5 GiB", "1 TiB"), the spelling the docs use.
 * A value of the wrong type is an error, never a silent default.
 *
 * Each returns 0 (out set), or -1 with a reason naming the setting in
 * why (the caller adds file and line).
 */
#ifndef STRATUS_CORE_CONFVAL_H
#define STRATUS_CORE_CONFVAL_H

#include <stddef.h>
#include <stdint.h>

#include <libconfig.h>

#include <stratus/backend.h>

/* A whole number within [min, max]. */
int st_confval_int(const config_setting_t *, long long min, long long max,
                   long long *out, char *why, size_t whylen);
/* A byte size within [min, max]: a whole number, or a string such as
 * "64 MiB" (units B, KiB, MiB, GiB, TiB). */
int st_confval_bytes(const config_setting_t *, uint64_t min, uint64_t max,
                     uint64_t *out, char *why, size_t whylen);
/* The same for text alone (tests, and the reading of strings). */
int st_parse_bytes(const char *, uint64_t *out);

/*
 * For backends and the core alike: store settings, file names and secret
 * files. Errors go into err (the caller adds the file and line, or the
 * store's name).
 */

/* The first setting of group g not named in allowed (NULL-terminated),
 * or NULL. */
const config_setting_t *st_conf_unknown_member(const config_setting_t *g,
                                               const char *const *allowed);
/* Resolves a file name from the configuration (relative to
 * the configuration's directory, or to $CREDENTIALS_DIRECTORY when the file
 * is there) into out. */
void st_conf_path(const struct st_store_env *, const char *name, char *out, size_t cap);
/* For a store's directory: 0 when dir is a writable directory, or can be
 * created (its nearest existing parent is a writable directory); else -1
 * with the reason in err. --check-config creates nothing, so this is how
 * it finds what starting would. */
int st_conf_check_dir(const char *dir, char *err, size_t errlen);
/* Reads a secret file, refusing one readable by group or others. Returns
 * the length (contents NUL-terminated, trailing newline removed) or -1. */
long st_read_secret_file(const char *path, char *buf, size_t cap,
                         char *err, size_t errlen);
/* A store's secret file, named relative to the configuration file. */
int st_conf_read_secret(const struct st_store_env *, const char *file,
                        char *out, size_t cap, char *err, size_t errlen);
/* An optional size in bytes (int or int64 setting) within [min, max];
 * *out keeps its value when the setting is absent. */
int st_conf_size(const config_setting_t *, const char *name, uint64_t min,
                 uint64_t max, uint64_t *out, char *err, size_t errlen);
/* An optional string setting: *out is its value, or NULL when absent;
 * any other type is refused with its line. 0 or -1. */
int st_conf_opt_string(const config_setting_t *, const char *name,
                       const char **out, char *err, size_t errlen);
/* Checks that a group has only the listed settings (NULL-terminated). */
int st_conf_only_keys(const config_setting_t *, const char *const *allowed,
                      char *err, size_t errlen);

#endif
