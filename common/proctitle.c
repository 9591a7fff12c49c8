/*
 * proctitle.c: process titles (see proctitle.h).
 */
#include "common/pt.h"
#include "common/proctitle.h"

#include <stdarg.h>
#include <sys/prctl.h>

extern char **environ;

static char *pt_proctitle_start, *pt_proctitle_end;

void pt_proctitle_init(int argc, char **argv)
{
    if (argc < 1 || argv[0] == NULL)
        return;
    char *start = argv[0], *end = argv[0] + strlen(argv[0]) + 1;
    /* The strings are contiguous from argv[0]: find where they stop. */
    for (int i = 1; i < argc; i++)
        if (argv[i] == end)
            end = argv[i] + strlen(argv[i]) + 1;
    size_t nenv = 0;
    for (char **e = environ; e && *e; e++)
        nenv++;
    char **env = calloc(nenv + 1, sizeof(*env));
    char **args = calloc((size_t) argc, sizeof(*args));
    if (env == NULL || args == NULL) {
        free(env);
        free(args);
        return;
    }
    for (size_t i = 0; i < nenv; i++) {
        if (environ[i] == end)
            end = environ[i] + strlen(environ[i]) + 1;
        env[i] = strdup(environ[i]);
    }
    for (int i = 0; i < argc; i++)
        args[i] = strdup(argv[i]);
    for (size_t i = 0; i < nenv; i++)
        if (env[i] == NULL)
            return;     /* out of memory: keep everything as it was, no titles */
    for (int i = 0; i < argc; i++)
        if (args[i] == NULL)
            return;
    /* From here the old memory is ours: the environment and argv's
     * strings live on the heap. */
    environ = env;
    for (int i = 0; i < argc; i++)
        argv[i] = args[i];
    free(args);
    pt_proctitle_start = start;
    pt_proctitle_end = end;
}

void pt_proctitle_set(const char *comm, const char *fmt, ...)
{
    va_list ap;

    if (comm)
        prctl(PR_SET_NAME, comm, 0, 0, 0);
    if (pt_proctitle_start == NULL)
        return;
    size_t room = (size_t) (pt_proctitle_end - pt_proctitle_start);
    va_start(ap, fmt);
    int n = vsnprintf(pt_proctitle_start, room, fmt, ap);
    va_end(ap);
    size_t used = n < 0 ? 0 : pt_min((size_t) n + 1, room);
    /* Zero the rest, so cmdline ends at the title: no stale argument or
     * environment text shows after it. */
    memset(pt_proctitle_start + used, 0, room - used);
}
