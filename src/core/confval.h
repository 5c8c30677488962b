/*
 * confval.h - reading numbers from libconfig settings without surprises.
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

/* A whole number within [min, max]. */
int st_confval_int(const config_setting_t *, long long min, long long max,
                   long long *out, char *why, size_t whylen);
/* A byte size within [min, max]: a whole number, or a string such as
 * "64 MiB" (units B, KiB, MiB, GiB, TiB). */
int st_confval_bytes(const config_setting_t *, uint64_t min, uint64_t max,
                     uint64_t *out, char *why, size_t whylen);
/* The same for text alone (tests, and the reading of strings). */
int st_parse_bytes(const char *, uint64_t *out);

#endif
