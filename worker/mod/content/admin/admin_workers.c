/*
 * admin_workers.c: the workers of the running master, read from /proc
 * (the master's children and their process titles, which say slot,
 * generation and whether a worker is retiring): no shared state to keep.
 */
#include "common/pt.h"
#include "worker/mod/content/admin/admin_int.h"

#include <stdio.h>
#include <unistd.h>

/* At most this many children are listed. */
#define PT_ADMIN_WORKERS_MAX    1024

/* The title of pid ("portico: worker process 0 (generation 3)") into buf. */
static bool pt_admin_worker_title(long pid, char *buf, size_t len)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%ld/cmdline", pid);
    FILE *f = fopen(path, "re");
    if (f == NULL)
        return false;
    size_t n = fread(buf, 1, len - 1, f);
    fclose(f);
    buf[n] = '\0';
    return n > 0;
}

json_t *pt_admin_read_workers(const pt_conf_t *conf)
{
    json_t *o = json_object();
    json_t *list = json_array();
    long master = (long) getppid();
    char path[96];

    json_object_set_new(o, "configured", json_integer(conf->main.workers));
    json_object_set_new(o, "master_pid", json_integer(master));
    json_object_set_new(o, "answering_pid", json_integer((json_int_t) getpid()));
    json_object_set_new(o, "list", list);
    json_object_set_new(o, "serving", json_integer(0));
    snprintf(path, sizeof(path), "/proc/%ld/task/%ld/children", master, master);
    FILE *f = fopen(path, "re");
    if (f == NULL)
        return o;
    long pid;
    for (unsigned n = 0; n < PT_ADMIN_WORKERS_MAX && fscanf(f, "%ld", &pid) == 1; n++) {
        char title[256];
        unsigned slot, gen;
        if (!pt_admin_worker_title(pid, title, sizeof(title)))
            continue;
        const char *status = NULL;
        if (sscanf(title, "portico: worker process %u (generation %u)", &slot, &gen) == 2)
            status = "serving";
        else if (sscanf(title, "portico: retiring worker process %u (generation %u)", &slot,
                        &gen) == 2)
            status = "retiring";
        if (status == NULL)
            continue;
        json_t *w = json_object();
        json_object_set_new(w, "pid", json_integer(pid));
        json_object_set_new(w, "slot", json_integer(slot));
        json_object_set_new(w, "generation", json_integer(gen));
        json_object_set_new(w, "status", json_string(status));
        json_array_append_new(list, w);
    }
    fclose(f);
    size_t serving = 0;
    for (size_t i = 0; i < json_array_size(list); i++)
        serving += strcmp(json_string_value(json_object_get(json_array_get(list, i),
                                                            "status")), "serving") == 0;
    json_object_set_new(o, "serving", json_integer((json_int_t) serving));
    return o;
}
