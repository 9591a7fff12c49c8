/*
 * test_trace_context.c: traceparent and tracestate (W3C Trace Context)
 * parsing and writing (worker/mod/log/trace/trace_context.h), as tables.
 */
#include "common/pt.h"

#include "worker/mod/log/trace/trace_context.h"
#include "test/unit/tap.h"

#define T "4bf92f3577b34da6a3ce929d0e0e4736"
#define P "00f067aa0ba902b7"

static const struct {
    const char *v;
    bool valid;
    uint8_t flags;
} parents[] = {
    { "00-" T "-" P "-01", true, 1 },
    { "00-" T "-" P "-00", true, 0 },
    { "00-" T "-" P "-ff", true, 0xff },
    { "01-" T "-" P "-01", true, 1 },                        /* later version, exact length */
    { "cc-" T "-" P "-01-and-more", true, 1 },               /* later version, more fields */
    { "cc-" T "-" P "-01more", false, 0 },                   /* ... only after a "-" */
    { "00-" T "-" P "-01-", false, 0 },                      /* version 00 is 55 bytes */
    { "ff-" T "-" P "-01", false, 0 },                       /* version ff is invalid */
    { "00-4BF92F3577B34DA6A3CE929D0E0E4736-" P "-01", false, 0 },  /* uppercase */
    { "00-00000000000000000000000000000000-" P "-01", false, 0 },
    { "00-" T "-0000000000000000-01", false, 0 },
    { "00-" T "-" P "-0", false, 0 },
    { "00-" T "-" P "-0x", false, 0 },
    { "0-" T "-" P "-01", false, 0 },
    { "00-" T "x" P "-01", false, 0 },
    { "00-" T "-" P "_01", false, 0 },
    { "", false, 0 },
    { "00", false, 0 },
};

static const struct {
    const char *in, *out;           /* out NULL: invalid */
} states[] = {
    { "rojo=00f067aa0ba902b7", "rojo=00f067aa0ba902b7" },
    { "rojo=1,congo=t61rcWkgMzE", "rojo=1,congo=t61rcWkgMzE" },
    { " rojo=1 , ,\tcongo=2 ", "rojo=1,congo=2" },          /* blanks, empty members */
    { "", "" },
    { " , ", "" },
    { "tenant@vendor=x", "tenant@vendor=x" },
    { "1tenant@v=x", "1tenant@v=x" },
    { "a-b_c*d/e=v a l", "a-b_c*d/e=v a l" },              /* spaces inside a value */
    { "Rojo=1", NULL },                                      /* uppercase key */
    { "1rojo=1", NULL },                                     /* a simple key starts a-z */
    { "t@1v=x", NULL },                                      /* system-id starts a-z */
    { "t@abcdefghijklmno=x", NULL },                         /* system-id over 14 */
    { "rojo", NULL },
    { "rojo=", NULL },
    { "rojo=a=b", NULL },
    { "rojo=1,rojo=2", NULL },                               /* keys are unique */
    { "rojo=\x01", NULL },
};

int main(void)
{
    pt_traceparent_t tp;

    for (size_t i = 0; i < sizeof(parents) / sizeof(parents[0]); i++) {
        int rc = pt_traceparent_parse((pt_str_t) { parents[i].v, strlen(parents[i].v) }, &tp);
        ok((rc == PT_OK) == parents[i].valid, "traceparent \"%s\": %s", parents[i].v,
           parents[i].valid ? "valid" : "invalid");
        if (rc == PT_OK)
            is(tp.flags, parents[i].flags, "  its flags");
    }
    /* What is parsed comes back out written. */
    const char *v = "00-" T "-" P "-01";
    char out[PT_TRACEPARENT_LEN + 1] = { 0 };
    ok(pt_traceparent_parse((pt_str_t) { v, strlen(v) }, &tp) == PT_OK, "parse");
    pt_traceparent_write(out, tp.trace_id, tp.parent_id, tp.flags);
    is_str(out, v, "write gives the same text back");

    char buf[PT_TRACESTATE_MAX + 1];
    for (size_t i = 0; i < sizeof(states) / sizeof(states[0]); i++) {
        ssize_t n = pt_tracestate_parse((pt_str_t) { states[i].in, strlen(states[i].in) },
                                        buf, PT_TRACESTATE_MAX);
        if (states[i].out == NULL) {
            ok(n < 0, "tracestate \"%s\": invalid", states[i].in);
        } else {
            ok(n >= 0, "tracestate \"%s\": valid", states[i].in);
            buf[n < 0 ? 0 : n] = '\0';
            is_str(buf, states[i].out, "  as propagated");
        }
    }
    /* 32 members pass, 33 do not. */
    char many[1024];
    size_t len = 0;
    for (int i = 0; i < 33; i++)
        len += (size_t) snprintf(many + len, sizeof(many) - len, "%sk%d=v", i ? "," : "", i);
    ok(pt_tracestate_parse((pt_str_t) { many, len }, buf, PT_TRACESTATE_MAX) < 0, "33 members");
    len = (size_t) (strrchr(many, ',') - many);
    ok(pt_tracestate_parse((pt_str_t) { many, len }, buf, PT_TRACESTATE_MAX) == (ssize_t) len,
       "32 members");
    /* Over 512 bytes: the member over 128 bytes goes first, then from the end. */
    char big[2048];
    len = (size_t) snprintf(big, sizeof(big), "a=%0200d", 0);
    for (int i = 0; i < 20; i++)
        len += (size_t) snprintf(big + len, sizeof(big) - len, ",m%02d=%030d", i, i);
    ssize_t n = pt_tracestate_parse((pt_str_t) { big, len }, buf, PT_TRACESTATE_MAX);
    ok(n > 0 && n <= PT_TRACESTATE_MAX, "cut to at most 512 bytes (%zd)", n);
    buf[n > 0 ? n : 0] = '\0';
    ok(strncmp(buf, "m00=", 4) == 0, "the long member went first");
    ok(strstr(buf, "m19=") == NULL && strstr(buf, "m13=") != NULL, "then the last ones");
    /* Sampling: each percent takes exactly its share of the draws kept
     * (a draw % 100 of one byte favoured 0..55: 65.6% at 56). */
    bool exact = true;
    for (unsigned pc = 0; pc <= 100 && exact; pc++) {
        unsigned yes = 0, again = 0;
        for (unsigned d = 0; d <= UINT16_MAX; d++) {
            int k = pt_trace_sample_pick((uint16_t) d, pc);
            yes += k == 1;
            again += k < 0;
        }
        exact = yes == pc * (PT_TRACE_SAMPLE_DRAWS / 100) && again == 65536 - PT_TRACE_SAMPLE_DRAWS;
        if (!exact)
            diag("percent %u: %u sampled, %u drawn again", pc, yes, again);
    }
    ok(exact, "trace_sample: exactly percent * 655 of 65500 draws, for 0..100");
    return done_testing();
}
