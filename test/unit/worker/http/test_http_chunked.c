/*
 * test_http_chunked.c: the chunked decoder and the size-line encoder.
 *
 * Each case is a raw body and what must come of it: the outcome, the decoded data, where
 * the message ended, the reason of an error. Every case is decoded in one piece, byte by
 * byte, split in two at every offset, and in random pieces (fixed seed), each piece on a
 * fresh heap copy so ASan sees any read past it; all must agree.
 */
#include "common/pt.h"

#include "worker/http/http_chunked.h"
#include "test/unit/tap.h"

#define R(s)    s, sizeof(s) - 1
#define D(s)    s, sizeof(s) - 1

typedef struct {
    const char *raw;
    size_t len;
    int want;               /* PT_DONE, PT_AGAIN or PT_ERROR */
    const char *data;       /* decoded data (PT_DONE, PT_AGAIN), or the error reason */
    size_t dlen;
    size_t end;             /* PT_DONE: bytes of the message; the rest is the next one */
    size_t max_ext, max_trailer;
} pt_case_t;

static const pt_case_t cases[] = {
    /* well-formed */
    { R("0\r\n\r\n"), PT_DONE, D(""), 5, 0, 0 },
    { R("5\r\nhello\r\n0\r\n\r\n"), PT_DONE, D("hello"), 15, 0, 0 },
    { R("5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"), PT_DONE, D("hello world"), 26, 0, 0 },
    { R("A\r\n0123456789\r\n0\r\n\r\n"), PT_DONE, D("0123456789"), 20, 0, 0 },
    { R("a\r\n0123456789\r\n0\r\n\r\n"), PT_DONE, D("0123456789"), 20, 0, 0 },
    { R("0005\r\nhello\r\n000\r\n\r\n"), PT_DONE, D("hello"), 20, 0, 0 },
    { R("3\r\n\r\n\0\r\n0\r\n\r\n"), PT_DONE, D("\r\n\0") , 13, 0, 0 },
    { R("5;foo=bar\r\nhello\r\n0;last\r\n\r\n"), PT_DONE, D("hello"), 28, 0, 0 },
    { R("5 ; a = b ;c\t;d=e\r\nhello\r\n0\r\n\r\n"), PT_DONE, D("hello"), 31, 0, 0 },
    { R("5;a=\"q\\\"x; y\\\\\"\r\nhello\r\n0\r\n\r\n"), PT_DONE, D("hello"), 29, 0, 0 },
    { R("5;a=\"\"  ;b\r\nhello\r\n0\r\n\r\n"), PT_DONE, D("hello"), 24, 0, 0 },
    { R("5;a=\"\xc3\xa9\t\"\r\nhello\r\n0\r\n\r\n"), PT_DONE, D("hello"), 23, 0, 0 },
    { R("5;!#$%&'*+-.^_`|~=!#$%&'*+-.^_`|~\r\nhello\r\n0\r\n\r\n"), PT_DONE, D("hello"), 47,
      0, 0 },
    { R("0\r\nX-Trailer: v\r\nY:\r\nZ: a \t b\xff\r\n\r\n"), PT_DONE, D(""), 34, 0, 0 },
    { R("0\r\n\r\nGET / HTTP/1.1\r\n"), PT_DONE, D(""), 5, 0, 0 },
    { R("1\r\nx\r\n0\r\nT: 1\r\n\r\n5\r\nabcde"), PT_DONE, D("x"), 17, 0, 0 },
    { R("ffffffffffffffff\r\nabc"), PT_AGAIN, D("abc"), 0, 0, 0 },
    { R("0000000000000000000000000000000a\r\n0123456789\r\n0\r\n\r\n"), PT_DONE,
      D("0123456789"), 51, 0, 0 },

    /* incomplete */
    { R(""), PT_AGAIN, D(""), 0, 0, 0 },
    { R("5"), PT_AGAIN, D(""), 0, 0, 0 },
    { R("5\r"), PT_AGAIN, D(""), 0, 0, 0 },
    { R("5\r\nhel"), PT_AGAIN, D("hel"), 0, 0, 0 },
    { R("5\r\nhello"), PT_AGAIN, D("hello"), 0, 0, 0 },
    { R("5\r\nhello\r"), PT_AGAIN, D("hello"), 0, 0, 0 },
    { R("5;a=\"x"), PT_AGAIN, D(""), 0, 0, 0 },
    { R("0\r\nX: y"), PT_AGAIN, D(""), 0, 0, 0 },
    { R("0\r\n\r"), PT_AGAIN, D(""), 0, 0, 0 },

    /* chunk-size */
    { R("g\r\n"), PT_ERROR, D("invalid chunk size"), 0, 0, 0 },
    { R("\r\n"), PT_ERROR, D("CR out of place in chunked framing"), 0, 0, 0 },
    { R(" 5\r\nhello\r\n0\r\n\r\n"), PT_ERROR, D("invalid chunk size"), 0, 0, 0 },
    { R("5 \r\nhello\r\n0\r\n\r\n"), PT_ERROR, D("CR out of place in chunked framing"), 0, 0, 0 },
    { R("5\t\r\nhello\r\n0\r\n\r\n"), PT_ERROR, D("CR out of place in chunked framing"), 0, 0, 0 },
    { R("5 5\r\nhello\r\n"), PT_ERROR, D("whitespace after chunk size not before ';'"), 0, 0, 0 },
    { R("+5\r\nhello\r\n"), PT_ERROR, D("invalid chunk size"), 0, 0, 0 },
    { R("-5\r\nhello\r\n"), PT_ERROR, D("invalid chunk size"), 0, 0, 0 },
    { R("0x5\r\nhello\r\n"), PT_ERROR, D("invalid chunk size"), 0, 0, 0 },
    { R("5\nhello\r\n0\r\n\r\n"), PT_ERROR, D("bare LF in chunked framing"), 0, 0, 0 },
    { R("5\r\rhello\r\n"), PT_ERROR, D("bare CR in chunk-size line"), 0, 0, 0 },
    { R("5\rhello\r\n"), PT_ERROR, D("bare CR in chunk-size line"), 0, 0, 0 },
    { R("10000000000000000\r\n"), PT_ERROR, D("chunk size overflows 64 bits"), 0, 0, 0 },
    { R("1ffffffffffffffff\r\n"), PT_ERROR, D("chunk size overflows 64 bits"), 0, 0, 0 },
    { R("000000000000000000000000000000005\r\n"), PT_ERROR, D("chunk size has too many digits"),
      0, 0, 0 },

    /* data and its CRLF */
    { R("5\r\nhelloX\r\n0\r\n\r\n"), PT_ERROR, D("no CRLF after chunk data"), 0, 0, 0 },
    { R("5\r\nhello\n0\r\n\r\n"), PT_ERROR, D("no CRLF after chunk data"), 0, 0, 0 },
    /* any byte but CR before the LF: the chunk's length lied */
    { R("5\r\nhelloX\n0\r\n\r\n"), PT_ERROR, D("no CRLF after chunk data"), 0, 0, 0 },
    { R("5\r\nhello\r0\r\n\r\n"), PT_ERROR, D("no CRLF after chunk data"), 0, 0, 0 },
    { R("5\r\nhell\r\n0\r\n\r\n"), PT_ERROR, D("no CRLF after chunk data"), 0, 0, 0 },
    { R("5\r\nhello\r\n\r\n0\r\n\r\n"), PT_ERROR, D("CR out of place in chunked framing"),
      0, 0, 0 },

    /* extensions */
    { R("5;\r\nhello\r\n"), PT_ERROR, D("CR out of place in chunked framing"), 0, 0, 0 },
    { R("5;=x\r\nhello\r\n"), PT_ERROR, D("invalid chunk extension name"), 0, 0, 0 },
    { R("5;a=\r\nhello\r\n"), PT_ERROR, D("CR out of place in chunked framing"), 0, 0, 0 },
    { R("5;a b\r\nhello\r\n"), PT_ERROR, D("invalid chunk extension"), 0, 0, 0 },
    { R("5;a \r\nhello\r\n"), PT_ERROR, D("CR out of place in chunked framing"), 0, 0, 0 },
    { R("5;a=b c\r\nhello\r\n"), PT_ERROR, D("whitespace after chunk size not before ';'"),
      0, 0, 0 },
    { R("5;a=b \r\nhello\r\n"), PT_ERROR, D("CR out of place in chunked framing"), 0, 0, 0 },
    { R("5;a=\"x\"y\r\nhello\r\n"), PT_ERROR, D("invalid chunk extension value"), 0, 0, 0 },
    { R("5;a=\"x\r\nhello\r\n"), PT_ERROR, D("CR out of place in chunked framing"), 0, 0, 0 },
    { R("5;a=\"\x01\"\r\nhello\r\n"), PT_ERROR, D("invalid quoted-string in chunk extension"),
      0, 0, 0 },
    { R("5;a=\"\\\x7f\"\r\nhello\r\n"), PT_ERROR, D("invalid quoted-pair in chunk extension"),
      0, 0, 0 },
    { R("5;a=b\x7f\r\nhello\r\n"), PT_ERROR, D("invalid chunk extension value"), 0, 0, 0 },
    { R("5;a\x7f\r\nhello\r\n"), PT_ERROR, D("invalid chunk extension name"), 0, 0, 0 },
    { R("5;a=b;\r\nhello\r\n"), PT_ERROR, D("CR out of place in chunked framing"), 0, 0, 0 },
    { R("5;a=b\nhello\r\n"), PT_ERROR, D("bare LF in chunked framing"), 0, 0, 0 },
    { R("5;a=\xc3\xa9\r\nhello\r\n"), PT_ERROR, D("invalid chunk extension value"), 0, 0, 0 },
    { R("5;abcdefgh\r\nhello\r\n0\r\n\r\n"), PT_DONE, D("hello"), 24, 10, 0 },
    { R("5;abcdefghi\r\nhello\r\n0\r\n\r\n"), PT_ERROR, D("chunk extensions too long"), 0, 10, 0 },
    { R("5;a=bcdef\r\nhello\r\n1;abcdefgh\r\nx\r\n0\r\n\r\n"), PT_DONE, D("hellox"), 38, 10, 0 },

    /* trailer section */
    { R("0\r\nX: a\r\n b\r\n\r\n"), PT_ERROR, D("obs-fold in trailer section"), 0, 0, 0 },
    { R("0\r\nX: a\r\n\tb\r\n\r\n"), PT_ERROR, D("obs-fold in trailer section"), 0, 0, 0 },
    { R("0\r\n X: a\r\n\r\n"), PT_ERROR, D("obs-fold in trailer section"), 0, 0, 0 },
    { R("0\r\nX : a\r\n\r\n"), PT_ERROR, D("whitespace between trailer field name and colon"),
      0, 0, 0 },
    { R("0\r\nX: a\nY: b\r\n\r\n"), PT_ERROR, D("bare LF in chunked framing"), 0, 0, 0 },
    { R("0\r\nX: a\r\r\n\r\n"), PT_ERROR, D("bare CR in trailer section"), 0, 0, 0 },
    { R("0\r\nX: a\rb\r\n\r\n"), PT_ERROR, D("bare CR in trailer section"), 0, 0, 0 },
    { R("0\r\n: a\r\n\r\n"), PT_ERROR, D("empty trailer field name"), 0, 0, 0 },
    { R("0\r\nX\r\n\r\n"), PT_ERROR, D("trailer field line without colon"), 0, 0, 0 },
    { R("0\r\nX: \0\r\n\r\n"), PT_ERROR, D("invalid character in trailer field value"), 0, 0, 0 },
    { R("0\r\nX: \x7f\r\n\r\n"), PT_ERROR, D("invalid character in trailer field value"), 0, 0, 0 },
    { R("0\r\nX\x7f: a\r\n\r\n"), PT_ERROR, D("invalid character in trailer field name"), 0, 0, 0 },
    { R("0\r\n\xc3: a\r\n\r\n"), PT_ERROR, D("invalid character in trailer field name"), 0, 0, 0 },
    { R("0\r\n\n"), PT_ERROR, D("bare LF in chunked framing"), 0, 0, 0 },
    { R("0\r\n\rX"), PT_ERROR, D("bare CR at end of chunked body"), 0, 0, 0 },
    { R("0\r\nAb: 123\r\n\r\n"), PT_DONE, D(""), 14, 0, 11 },
    { R("0\r\nAb: 1234\r\n\r\n"), PT_ERROR, D("trailer section too large"), 0, 0, 11 },
};

typedef struct {
    int rc;
    size_t end;             /* PT_DONE: offset just past the message */
    const char *error;
    char data[256];
    size_t dlen;
} outcome_t;

/* Decode raw[0..len) delivered in pieces ending at cuts[0..n), each on a fresh copy. */
static void
decode(const pt_case_t *c, const size_t *cuts, size_t n, outcome_t *o)
{
    pt_chunked_t ck;
    size_t from = 0;

    pt_chunked_init(&ck);
    ck.max_ext = c->max_ext;
    ck.max_trailer = c->max_trailer;
    memset(o, 0, sizeof(*o));
    o->rc = PT_AGAIN;
    for (size_t k = 0; k < n; k++) {
        size_t plen = cuts[k] - from, off = 0;
        char *piece = malloc(plen ? plen : 1);

        memcpy(piece, c->raw + from, plen);
        for (;;) {
            size_t used = 0;
            pt_str_t d;

            o->rc = pt_chunked_parse(&ck, piece + off, plen - off, &used, &d);
            if (used > plen - off || (o->rc != PT_OK && d.len != 0))
                o->rc = 12345;              /* broken contract: never matches a case */
            if (o->rc == PT_OK) {
                if (d.p != piece + off + used - d.len || d.len == 0
                    || o->dlen + d.len > sizeof(o->data)) {
                    o->rc = 12346;
                    break;
                }
                memcpy(o->data + o->dlen, d.p, d.len);
                o->dlen += d.len;
                off += used;
                continue;
            }
            off += used;
            break;
        }
        free(piece);
        if (o->rc == PT_DONE)
            o->end = from + off;
        if (o->rc != PT_AGAIN && o->rc != PT_OK)
            break;
        from = cuts[k];
    }
    o->error = ck.error;
    if (o->rc == PT_DONE && !pt_chunked_done(&ck))
        o->rc = 12347;
}

static bool
same(const outcome_t *a, const outcome_t *b)
{
    return a->rc == b->rc && a->end == b->end && a->error == b->error && a->dlen == b->dlen
           && memcmp(a->data, b->data, a->dlen) == 0;
}

static void
check_case(const pt_case_t *c, size_t idx)
{
    size_t cuts[512], n = 0;
    outcome_t one, other;
    bool all = true;

    decode(c, &c->len, 1, &one);
    is(one.rc, c->want, "case %zu: outcome", idx);
    if (c->want == PT_ERROR) {
        is_str(one.error, c->data, "case %zu: reason", idx);
    } else {
        ok(one.dlen == c->dlen && memcmp(one.data, c->data, one.dlen) == 0,
           "case %zu: decoded data", idx);
        if (c->want == PT_DONE)
            is(one.end, c->end, "case %zu: message ends at %zu", idx, c->end);
    }

    for (size_t i = 1; i <= c->len; i++)
        cuts[n++] = i;
    decode(c, n ? cuts : &c->len, n ? n : 1, &other);
    ok(same(&one, &other), "case %zu: byte by byte gives the same", idx);

    for (size_t at = 0; at <= c->len; at++) {
        size_t two[2] = { at, c->len };

        decode(c, two, 2, &other);
        all &= same(&one, &other);
    }
    ok(all, "case %zu: split in two anywhere gives the same", idx);

    for (int round = 0; round < 16; round++) {
        size_t at = 0;

        n = 0;
        while (at < c->len) {
            size_t step = 1 + tap_rand() % 7;

            at = pt_min(at + step, c->len);
            cuts[n++] = at;
        }
        if (n == 0)
            cuts[n++] = 0;
        decode(c, cuts, n, &other);
        all &= same(&one, &other);
    }
    ok(all, "case %zu: random splits give the same", idx);
}

static void
test_sticky(void)
{
    pt_chunked_t ck;
    size_t used = 99;
    pt_str_t d;

    pt_chunked_init(&ck);
    is(pt_chunked_parse(&ck, "0\r\n\r\nX", 6, &used, &d), PT_DONE, D("done"));
    is(used, 5, "done consumes the message only");
    ok(pt_chunked_done(&ck), "pt_chunked_done after the end");
    is(pt_chunked_parse(&ck, "X", 1, &used, &d), PT_DONE, D("done again after the end"));
    is(used, 0, "nothing consumed after the end");

    pt_chunked_init(&ck);
    ok(!pt_chunked_done(&ck), "not done at start");
    is(pt_chunked_parse(&ck, "z", 1, &used, &d), PT_ERROR, D("error"));
    is(pt_chunked_parse(&ck, "0\r\n\r\n", 5, &used, &d), PT_ERROR, D("error sticks"));
    ok(!pt_chunked_done(&ck), "not done after an error");

    pt_chunked_init(&ck);
    is(pt_chunked_parse(&ck, "", 0, &used, &d), PT_AGAIN, D("empty input: again"));
    ok(used == 0 && d.len == 0 && d.p == NULL, "empty input: nothing consumed, no data");
}

static void
test_size_line(void)
{
    static const struct { uint64_t n; const char *want; } lines[] = {
        { 0, "0\r\n" }, { 1, "1\r\n" }, { 15, "f\r\n" }, { 16, "10\r\n" },
        { 0x1a2b, "1a2b\r\n" }, { 0xffffffffu, "ffffffff\r\n" },
        { UINT64_MAX, "ffffffffffffffff\r\n" }, { (uint64_t) 1 << 60, "1000000000000000\r\n" },
    };
    char buf[20];

    for (size_t i = 0; i < pt_countof(lines); i++) {
        size_t n = pt_chunked_size_line(buf, lines[i].n);

        ok(n == strlen(lines[i].want) && memcmp(buf, lines[i].want, n) == 0,
           "size line for %" PRIu64, lines[i].n);
    }
}

/* Encode random data with random chunk sizes, decode it in random pieces: same bytes. */
static void
test_round_trip(void)
{
    static char body[70000], wire[90000];
    bool all = true;

    for (int round = 0; round < 50; round++) {
        size_t blen = tap_rand() % sizeof(body) / (round % 5 == 0 ? 1 : 64), w = 0, at = 0;
        pt_chunked_t ck;
        size_t got = 0, off = 0;
        int rc = PT_AGAIN;

        for (size_t i = 0; i < blen; i++)
            body[i] = (char) tap_rand();
        while (at < blen) {
            size_t step = 1 + tap_rand() % 5000, n = pt_min(blen - at, step);

            w += pt_chunked_size_line(wire + w, n);
            memcpy(wire + w, body + at, n);
            w += n;
            wire[w++] = '\r';
            wire[w++] = '\n';
            at += n;
        }
        w += pt_chunked_size_line(wire + w, 0);
        wire[w++] = '\r';
        wire[w++] = '\n';

        pt_chunked_init(&ck);
        while (rc != PT_DONE && rc != PT_ERROR && off < w) {
            size_t step = 1 + tap_rand() % 3000, piece = pt_min(w - off, step), used;
            pt_str_t d;

            rc = pt_chunked_parse(&ck, wire + off, piece, &used, &d);
            if (rc == PT_OK) {
                all &= got + d.len <= blen && memcmp(body + got, d.p, d.len) == 0;
                got += d.len;
            }
            off += used;
        }
        all &= rc == PT_DONE && off == w && got == blen;
    }
    ok(all, "round trip of 50 random bodies in random pieces");
}

/* The trailer section, cut out of the input the way a scrubbing relay does it (from
 * trailer_off in the call that crosses the last-chunk line, everything after that), comes
 * out whole however the input is split. */
static void
test_trailer_section(void)
{
    static const char raw[] = "5\r\nhello\r\n0;e=1\r\nA: b\r\nCc: d e\r\n\r\nNEXT";
    static const char want[] = "A: b\r\nCc: d e\r\n\r\n";
    size_t len = sizeof(raw) - 1;
    bool all = true;

    for (int round = 0; round < 64; round++) {
        pt_chunked_t ck;
        char got[64];
        size_t glen = 0, at = 0;
        int rc = PT_AGAIN;

        pt_chunked_init(&ck);
        while (at < len && rc != PT_DONE && rc != PT_ERROR) {
            size_t piece = round == 0 ? len - at : pt_min(len - at, 1 + tap_rand() % 5);
            size_t off = 0;
            while (off < piece) {
                size_t used = 0, from = SIZE_MAX;
                pt_str_t d;
                bool before = pt_chunked_in_trailer(&ck);
                rc = pt_chunked_parse(&ck, raw + at + off, piece - off, &used, &d);
                if (ck.trailer_off != SIZE_MAX)
                    from = ck.trailer_off;
                else if (before)
                    from = 0;
                if (from != SIZE_MAX && from <= used && glen + used - from <= sizeof(got)) {
                    memcpy(got + glen, raw + at + off + from, used - from);
                    glen += used - from;
                }
                off += used;
                if (rc != PT_OK)
                    break;
            }
            at += off;
        }
        all &= rc == PT_DONE && glen == sizeof(want) - 1 && memcmp(got, want, glen) == 0
               && at == len - 4;
    }
    ok(all, "trailer section cut out at trailer_off, in any pieces");
}

int
main(void)
{
    tap_srand(0x243f6a8885a308d3);
    for (size_t i = 0; i < pt_countof(cases); i++)
        check_case(&cases[i], i);
    test_sticky();
    test_size_line();
    test_round_trip();
    test_trailer_section();
    return done_testing();
}
