/*
 * test_log.c: line format, escaping, caps, level filtering and reopen.
 */
#include "common/pt.h"

#include <regex.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/log.h"
#include "test/unit/tap.h"

static char dir[] = "/tmp/pt_test_log.XXXXXX";
static char path[256], rotated[256];

/* The whole content of p, NUL-terminated (static buffer). */
static const char *
slurp(const char *p)
{
    static char buf[65536];
    FILE *f = fopen(p, "r");
    size_t n = 0;

    buf[0] = '\0';
    if (f != NULL) {
        n = fread(buf, 1, sizeof(buf) - 1, f);
        fclose(f);
    }
    buf[n] = '\0';
    return buf;
}

static size_t
count_lines(const char *s)
{
    size_t n = 0;

    for (; *s; s++)
        n += *s == '\n';
    return n;
}

static bool
matches(const char *s, const char *re)
{
    regex_t rx;
    bool m;

    if (regcomp(&rx, re, REG_EXTENDED | REG_NEWLINE) != 0)
        return false;
    m = regexec(&rx, s, 0, NULL, 0) == 0;
    regfree(&rx);
    return m;
}

static void
truncate_log(void)
{
    FILE *f = fopen(path, "w");
    if (f != NULL)
        fclose(f);
}

int
main(void)
{
    static const struct { const char *name; int level; } levels[] = {
        { "emerg", PT_LOG_EMERG }, { "alert", PT_LOG_ALERT }, { "crit", PT_LOG_CRIT },
        { "error", PT_LOG_ERR }, { "warn", PT_LOG_WARN }, { "notice", PT_LOG_NOTICE },
        { "info", PT_LOG_INFO }, { "debug", PT_LOG_DEBUG },
    };
    static const char *const bad_levels[] = { "", "ERROR", "err", "warning", "trace", "info " };
    const char *s;
    int pid = (int) getpid();
    char want[256];

    if (mkdtemp(dir) == NULL) {
        ok(0, "mkdtemp");
        return done_testing();
    }
    snprintf(path, sizeof(path), "%s/error.log", dir);
    snprintf(rotated, sizeof(rotated), "%s/error.log.1", dir);

    for (size_t i = 0; i < pt_countof(levels); i++) {
        is(pt_log_level_parse(levels[i].name), levels[i].level, "level \"%s\"", levels[i].name);
        is_str(pt_log_level_name(levels[i].level), levels[i].name, "name of level %d",
               levels[i].level);
    }
    for (size_t i = 0; i < pt_countof(bad_levels); i++)
        is(pt_log_level_parse(bad_levels[i]), -1, "level \"%s\" unknown", bad_levels[i]);
    is(pt_log_level_parse(NULL), -1, "level NULL unknown");
    is_str(pt_log_level_name(8), "unknown", "name of level 8");
    is_str(pt_log_level_name(-1), "unknown", "name of level -1");

    is(pt_log_level, PT_LOG_INFO, "default level is info");
    is(pt_log_fd(), 2, "default target is stderr");

    is(pt_log_open(path), PT_OK, "open %s", path);
    ok(pt_log_fd() > 2, "fd is a new file");

    /* Format. */
    pt_log(PT_LOG_ERR, "hello %s %d", "world", 42);
    s = slurp(path);
    snprintf(want, sizeof(want),
             "^[0-9]{4}/[0-9]{2}/[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{3} [+-][0-9]{4} "
             "\\[error\\] %d#master: "
             "hello world 42\n$", pid);
    ok(matches(s, want), "master line format");
    diag("line: %.*s", (int) strcspn(s, "\n"), s);

    truncate_log();
    pt_log_set_ident("worker", 3);
    pt_log(PT_LOG_WARN, "w");
    snprintf(want, sizeof(want), "\\[warn\\] %d#worker\\.3: w\n$", pid);
    ok(matches(slurp(path), want), "worker ident with slot");
    pt_log_set_ident("master", -1);

    /* errno suffix and errno preservation. */
    truncate_log();
    errno = EAGAIN;
    pt_log_errno(PT_LOG_CRIT, ENOENT, "open(\"%s\") failed", "/x");
    is(errno, EAGAIN, "pt_log_errno keeps errno");
    ok(matches(slurp(path), "\\[crit\\] [0-9]+#master: open\\(\"/x\"\\) failed: "
               "No such file or directory\n$"), "errno text appended");

    /* Control characters cannot forge a line. */
    truncate_log();
    pt_log(PT_LOG_ERR, "GET /a\r\n2026/01/01 00:00:00 [emerg] 1#master: forged\x7f\t\x1b[0m");
    s = slurp(path);
    is(count_lines(s), 1, "one line despite CR LF in the message");
    ok(strstr(s, "GET /a\\x0D\\x0A2026/01/01 00:00:00 [emerg] 1#master: forged"
                 "\\x7F\\x09\\x1B[0m\n") != NULL, "CR, LF, DEL, TAB, ESC escaped as \\xNN");
    truncate_log();
    pt_log(PT_LOG_ERR, "caf\xc3\xa9 %s", "\xff");
    ok(strstr(slurp(path), ": caf\xc3\xa9 \xff\n") != NULL, "bytes >= 0x80 kept as is");

    /* Cap. */
    {
        static char big[3 * PT_LOG_MSG_MAX];
        memset(big, 'a', sizeof(big) - 1);
        truncate_log();
        pt_log(PT_LOG_ERR, "%s", big);
        s = slurp(path);
        is(count_lines(s), 1, "long message is one line");
        ok(strstr(s, "aaa...\n") != NULL, "long message ends with ...");
        is(strlen(strstr(s, ": a") + 2), PT_LOG_MSG_MAX + 4, "body cut at PT_LOG_MSG_MAX");

        truncate_log();
        memset(big, '\n', PT_LOG_MSG_MAX);
        big[PT_LOG_MSG_MAX] = '\0';
        pt_log_errno(PT_LOG_ERR, EPIPE, "%s", big);
        s = slurp(path);
        is(count_lines(s), 1, "message of only newlines at the cap is one line");
        ok(strstr(s, "\\x0A: Broken pipe\n") != NULL, "errno text survives a full body");
    }

    /* Filtering. */
    truncate_log();
    pt_log_level = PT_LOG_WARN;
    pt_log(PT_LOG_ERR, "kept-err");
    pt_log(PT_LOG_WARN, "kept-warn");
    pt_log(PT_LOG_NOTICE, "dropped-notice");
    pt_log(PT_LOG_INFO, "dropped-info");
    {
        int evaluated = 0;
        pt_log_debug("dropped-debug %d", ++evaluated);
        is(evaluated, 0, "pt_log_debug does not evaluate its arguments when off");
        pt_log_level = PT_LOG_DEBUG;
        pt_log_debug("kept-debug %d", ++evaluated);
        is(evaluated, 1, "pt_log_debug evaluates them when on");
    }
    s = slurp(path);
    ok(strstr(s, "kept-err") && strstr(s, "kept-warn") && strstr(s, "[debug]")
       && !strstr(s, "dropped"), "levels above pt_log_level are dropped");
    is(count_lines(s), 3, "three lines kept");
    pt_log_level = PT_LOG_INFO;

    /* Reopen after logrotate's rename. */
    truncate_log();
    {
        int fd = pt_log_fd();
        pt_log(PT_LOG_NOTICE, "before rotation");
        ok(rename(path, rotated) == 0, "rename the log");
        pt_log(PT_LOG_NOTICE, "after rename, before reopen");
        is(pt_log_reopen(), PT_OK, "reopen");
        is(pt_log_fd(), fd, "reopen keeps the fd number");
        pt_log(PT_LOG_NOTICE, "after reopen");
    }
    s = slurp(rotated);
    ok(strstr(s, "before rotation") && strstr(s, "before reopen") && !strstr(s, "after reopen"),
       "old file keeps the old lines");
    s = slurp(path);
    ok(strstr(s, "after reopen") && !strstr(s, "before"), "new file gets the new lines");
    is(count_lines(s), 1, "new file has one line");

    /* A failed reopen keeps the old file. */
    {
        char sub[300];
        snprintf(sub, sizeof(sub), "%s/d", dir);
        ok(mkdir(sub, 0755) == 0, "mkdir");
        snprintf(sub, sizeof(sub), "%s/d/error.log", dir);
        is(pt_log_open(sub), PT_OK, "open a log in a subdirectory");
        unlink(sub);
        snprintf(sub, sizeof(sub), "%s/d", dir);
        rmdir(sub);
        errno = 0;
        is(pt_log_reopen(), PT_ERROR, "reopen fails when the directory is gone");
        is(errno, ENOENT, "errno says why");
        ok(pt_log_fd() > 2, "the old fd is kept");
    }

    /* A failed open keeps the old target. */
    is(pt_log_open(path), PT_OK, "open the log again");
    {
        int fd = pt_log_fd();
        errno = 0;
        is(pt_log_open("/nonexistent-dir/x.log"), PT_ERROR, "open in a missing directory fails");
        is(errno, ENOENT, "with ENOENT");
        is(pt_log_fd(), fd, "old fd kept");
        pt_log(PT_LOG_ERR, "still here");
        ok(strstr(slurp(path), "still here") != NULL, "still logging to the old file");
    }

    is(pt_log_open("stderr"), PT_OK, "back to stderr");
    is(pt_log_fd(), 2, "fd 2");
    is(pt_log_reopen(), PT_OK, "reopen of stderr is a no-op");
    is(pt_log_open(NULL), PT_OK, "NULL means stderr");

    unlink(path);
    unlink(rotated);
    rmdir(dir);
    return done_testing();
}
