/*
 * fuzz_trace_context.c: libFuzzer target for traceparent and tracestate
 * (worker/mod/log/trace/trace_context.h).
 *
 * The input, on a heap copy of its exact size, is parsed as both. A valid
 * traceparent written back as version 00 must parse again to the same ids
 * and flags; a valid tracestate must fit PT_TRACESTATE_MAX and parse again
 * to itself (it is its own normal form). Any breach aborts.
 */
#include "common/pt.h"

#include "worker/mod/log/trace/trace_context.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *in = malloc(size ? size : 1);
    memcpy(in, data, size);
    pt_str_t v = { in, size };
    pt_traceparent_t tp, again;

    if (pt_traceparent_parse(v, &tp) == PT_OK) {
        char out[PT_TRACEPARENT_LEN];
        pt_traceparent_write(out, tp.trace_id, tp.parent_id, tp.flags);
        if (pt_traceparent_parse((pt_str_t) { out, sizeof(out) }, &again) != PT_OK
            || memcmp(again.trace_id, tp.trace_id, sizeof(tp.trace_id)) != 0
            || memcmp(again.parent_id, tp.parent_id, sizeof(tp.parent_id)) != 0
            || again.flags != tp.flags || again.version != 0)
            abort();
    }
    char *st = malloc(PT_TRACESTATE_MAX);
    ssize_t n = pt_tracestate_parse(v, st, PT_TRACESTATE_MAX);
    if (n > PT_TRACESTATE_MAX)
        abort();
    if (n > 0) {
        char *st2 = malloc(PT_TRACESTATE_MAX);
        char *copy = malloc((size_t) n);
        memcpy(copy, st, (size_t) n);
        ssize_t m = pt_tracestate_parse((pt_str_t) { copy, (size_t) n }, st2, PT_TRACESTATE_MAX);
        if (m != n || memcmp(st, st2, (size_t) n) != 0)
            abort();
        free(copy);
        free(st2);
    }
    free(st);
    free(in);
    return 0;
}
