/*
 * auth_int.h: between mod_auth.c and auth.c only (mechanisms use auth.h).
 */
#ifndef PT_AUTH_INT_H
#define PT_AUTH_INT_H

#include "common/pt.h"
#include "worker/core/module.h"
#include "worker/mod/auth/auth.h"

enum { PT_AUTH_ALL = 0, PT_AUTH_ANY };

typedef struct {
    int satisfy;                    /* ENUM: PT_AUTH_ALL or PT_AUTH_ANY */
    const char *consumer_header;    /* STRING, "" for none */
    const char *groups_header;
    const char *plan_header;
    /* compiled by init_route */
    pt_str_t names[3];              /* the three above; len 0: not sent */
} pt_auth_conf_t;

/* What the mechanisms said about one request (r->ctx). */
typedef struct {
    const char *accepted;           /* the first mechanism that accepted */
    unsigned status;                /* the strongest refusal so far, 0: none */
    const char *reason;
    const char *challenges[PT_AUTH_CHALLENGES];
    unsigned nchallenges;
} pt_auth_state_t;

extern pt_module_t pt_auth_module;

/* r's state, made on first use; NULL out of memory. */
pt_auth_state_t *pt_auth_state(pt_request_t *r);

/* Answer r with the refusal st holds. */
void pt_auth_answer(pt_request_t *r, const pt_auth_state_t *st);

/* Accepted and refused counts (auth.c), registered with the module. */
extern const pt_metric_def_t pt_auth_metrics[];

#endif
