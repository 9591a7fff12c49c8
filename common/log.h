/*
 * log.h: the error log shared by the master and the workers.
 *
 * Each message is one line, written with a single write() so that lines
 * from many processes appending to the same O_APPEND file never interleave:
 *
 *     2026/11/27 01:02:03 [error] 1234#worker.0: message
 *
 * The time is the local wall clock (localtime_r), like nginx's error log.
 * Message bodies are capped at PT_LOG_MSG_MAX bytes ("..." marks a cut) and
 * control characters in them are written as \xNN, so text that came from a
 * client cannot forge a line. The state is per process: not thread-safe.
 */
#ifndef PT_LOG_H
#define PT_LOG_H

enum {
    PT_LOG_EMERG = 0,
    PT_LOG_ALERT,
    PT_LOG_CRIT,
    PT_LOG_ERR,
    PT_LOG_WARN,
    PT_LOG_NOTICE,
    PT_LOG_INFO,
    PT_LOG_DEBUG
};

/* Longest message body before it is cut, in bytes before escaping. */
#define PT_LOG_MSG_MAX  2048

/* Messages with a level above this are dropped. Default PT_LOG_INFO. */
extern int pt_log_level;

/* "emerg", "alert", "crit", "error", "warn", "notice", "info", "debug"
 * (exact, lowercase) -> PT_LOG_*; -1 for anything else, NULL included. */
int pt_log_level_parse(const char *name);

/* The name pt_log_level_parse reads, or "unknown" for an out-of-range level. */
const char *pt_log_level_name(int level);

/* Sends the log to path: NULL or "stderr" means fd 2, anything else is
 * opened O_WRONLY|O_APPEND|O_CREAT|O_CLOEXEC, mode 0644. On success the
 * previous target is closed (never fd 2) and PT_OK returned; on failure
 * PT_ERROR with errno set, and the previous target stays in use. */
int pt_log_open(const char *path);

/* Whether path names syslog: "syslog" (/dev/log) or "syslog:/a/socket".
 * pt_log_open then sends RFC 5424 messages there (common/syslog.h), one
 * datagram a line, without blocking: lines the socket has no room for are
 * counted and reported with the next line that goes through. */
bool pt_log_is_syslog(const char *path);

/* Opens the current path again (after logrotate moved the file) and puts
 * the new file in place of the old one under the same fd number, so fds
 * handed to others stay valid. A no-op for stderr. PT_ERROR with errno set
 * on failure; the old file then stays in use. */
int pt_log_reopen(void);

/* The fd lines are written to (2 until pt_log_open names a file), so the
 * master can dup2 it onto stderr. */
int pt_log_fd(void);

/* Names this process in every line: role "master" or "worker" (cut at 15
 * characters), slot the worker slot or -1 for none ("1234#master").
 * Before the first call lines say "master". The pid is read per line, so
 * a forked child shows its own pid even before it calls this. */
void pt_log_set_ident(const char *role, int slot);

/* Logs one line at level if level <= pt_log_level. errno is preserved. */
void pt_log(int level, const char *fmt, ...) PT_PRINTF(2, 3);

/* pt_log whatever pt_log_level says: for debug lines asked for one
 * request at a time (debug_clients). */
void pt_log_always(int level, const char *fmt, ...) PT_PRINTF(2, 3);

/* pt_log, then ": <strerror(err)>" appended to the message (nothing for err 0). */
void pt_log_errno(int level, int err, const char *fmt, ...) PT_PRINTF(3, 4);

/* Debug lines cost one compare when debug logging is off: the arguments
 * are not even evaluated. */
#define pt_log_debug(...) do {                                              \
    if (pt_unlikely(pt_log_level >= PT_LOG_DEBUG))                          \
        pt_log(PT_LOG_DEBUG, __VA_ARGS__);                                  \
} while (0)

#endif
