/*
 * units.h: the duration ("250ms", "1h 30m") and size ("16M") values of the
 * config file, parsed and printed back in the shortest exact form.
 */
#ifndef PT_UNITS_H
#define PT_UNITS_H

/* Parses a duration into milliseconds. Units are ms, s, m, h, d (lowercase);
 * pairs may be combined in strictly decreasing unit order ("1m30s", "1h 30m",
 * one space or more between pairs); a bare number means seconds ("30" is
 * 30000). No sign, no fraction, no leading or trailing space.
 * Returns PT_OK, or PT_ERROR on empty input, garbage or a total that does
 * not fit in int64 ms (*out is then untouched). */
int pt_parse_duration(const char *s, pt_msec_t *out);

/* Parses a byte size: "512", or a number with one binary suffix k/K (2^10),
 * m/M (2^20), g/G (2^30). No "b"/"B", no spaces, no sign.
 * Returns PT_OK, or PT_ERROR on empty input, garbage or uint64 overflow
 * (*out is then untouched). */
int pt_parse_size(const char *s, uint64_t *out);

/* Prints ms in the shortest form pt_parse_duration reads back exactly:
 * 30000 -> "30s", 300000 -> "5m", 1500 -> "1500ms", 86400001 -> "1d1ms",
 * 0 -> "0s"; a negative value gets a leading '-' (not parseable back).
 * snprintf semantics: writes at most n bytes including the NUL, returns
 * the length the full string needs. */
size_t pt_format_duration(char *buf, size_t n, pt_msec_t ms);

/* Prints v with the largest suffix that divides it exactly: 16777216 ->
 * "16M", 65536 -> "64k", 1073741824 -> "1G", 1000 -> "1000".
 * snprintf semantics, as pt_format_duration. */
size_t pt_format_size(char *buf, size_t n, uint64_t v);

#endif
