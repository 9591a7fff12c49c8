/*
 * http_chunked.c: chunked transfer coding, decoder and size lines.
 *
 * The decoder is a byte-at-a-time state machine for the framing (a few bytes per chunk)
 * and hands chunk data back as spans of the input, so bodies are never copied here. The
 * framing is checked as strictly as the head parser checks the head: request smuggling
 * through chunked bodies relies on two parsers disagreeing about a lenient corner (a bare
 * LF, junk after the size, a missing CRLF after the data), so none is accepted.
 */
#include "common/pt.h"

#include "worker/http/http_chunked.h"

/* States; the extension and trailer ranges are contiguous so one compare counts bytes. */
enum {
    PT_CK_SIZE0 = 0,    /* first digit of a chunk-size */
    PT_CK_SIZE,         /* more digits */
    PT_CK_EXT_WS,       /* BWS seen: only more of it or ';' may follow */
    PT_CK_EXT_NAME0,    /* after ';': BWS, then the name */
    PT_CK_EXT_NAME,
    PT_CK_EXT_NAME_WS,  /* BWS after the name: '=' or ';' next */
    PT_CK_EXT_VAL0,     /* after '=': BWS, then a token or a quoted-string */
    PT_CK_EXT_TOKEN,
    PT_CK_EXT_QUOTED,
    PT_CK_EXT_QPAIR,    /* after a backslash inside quotes */
    PT_CK_EXT_AFTER_Q,  /* right after the closing quote */
    PT_CK_SIZE_LF,      /* CR of the chunk-size line seen */
    PT_CK_DATA,
    PT_CK_DATA_CR,
    PT_CK_DATA_LF,
    PT_CK_TR_LINE,      /* start of a trailer field line, or of the final CRLF */
    PT_CK_TR_NAME,
    PT_CK_TR_VALUE,
    PT_CK_TR_LF,
    PT_CK_END_LF,       /* CR of the final CRLF seen */
    PT_CK_DONE,
    PT_CK_ERROR
};

/* Bits of pt_chunked_class. */
#define PT_CK_TCHAR     0x01    /* token character (RFC 9110 §5.6.2) */
#define PT_CK_VALUE     0x02    /* field-value byte: VCHAR, SP, HTAB, obs-text */
#define PT_CK_QDTEXT    0x04    /* quoted-string text: the value bytes but '"' and '\' */
#define PT_CK_WS        0x08    /* SP, HTAB */

#define PT_CK_TVQ       (PT_CK_TCHAR | PT_CK_VALUE | PT_CK_QDTEXT)

static const uint8_t pt_chunked_class[256] = {
    ['\t'] = PT_CK_VALUE | PT_CK_QDTEXT | PT_CK_WS,
    [' '] = PT_CK_VALUE | PT_CK_QDTEXT | PT_CK_WS,
    ['!'] = PT_CK_TVQ, ['"'] = PT_CK_VALUE, ['#' ... '\''] = PT_CK_TVQ,
    ['(' ... ')'] = PT_CK_VALUE | PT_CK_QDTEXT, ['*' ... '+'] = PT_CK_TVQ,
    [','] = PT_CK_VALUE | PT_CK_QDTEXT, ['-' ... '.'] = PT_CK_TVQ,
    ['/'] = PT_CK_VALUE | PT_CK_QDTEXT, ['0' ... '9'] = PT_CK_TVQ,
    [':' ... '@'] = PT_CK_VALUE | PT_CK_QDTEXT, ['A' ... 'Z'] = PT_CK_TVQ,
    ['['] = PT_CK_VALUE | PT_CK_QDTEXT, ['\\'] = PT_CK_VALUE,
    [']'] = PT_CK_VALUE | PT_CK_QDTEXT, ['^' ... 'z'] = PT_CK_TVQ,
    ['{'] = PT_CK_VALUE | PT_CK_QDTEXT, ['|'] = PT_CK_TVQ,
    ['}'] = PT_CK_VALUE | PT_CK_QDTEXT, ['~'] = PT_CK_TVQ,
    [0x80 ... 0xff] = PT_CK_VALUE | PT_CK_QDTEXT,
};

static inline int
pt_chunked_hexval(unsigned c)
{
    if (c - '0' < 10u)
        return (int) (c - '0');
    if ((c | 0x20) - 'a' < 6u)
        return (int) ((c | 0x20) - 'a' + 10);
    return -1;
}

void
pt_chunked_init(pt_chunked_t *c)
{
    memset(c, 0, sizeof(*c));
    c->state = PT_CK_SIZE0;
}

bool
pt_chunked_done(const pt_chunked_t *c)
{
    return c->state == PT_CK_DONE;
}

bool
pt_chunked_in_trailer(const pt_chunked_t *c)
{
    return c->state >= PT_CK_TR_LINE && c->state <= PT_CK_DONE;
}

size_t
pt_chunked_size_line(char *buf, uint64_t n)
{
    static const char hex[] = "0123456789abcdef";
    size_t digits = 1, i;

    while (digits < 16 && (n >> (4 * digits)) != 0)
        digits++;
    for (i = digits; i-- > 0; n >>= 4)
        buf[i] = hex[n & 15];
    buf[digits] = '\r';
    buf[digits + 1] = '\n';
    return digits + 2;
}

/* Where a byte that may not stand here points the blame. */
static const char *
pt_chunked_why(unsigned ch, const char *otherwise)
{
    if (ch == '\n')
        return "bare LF in chunked framing";
    if (ch == '\r')
        return "CR out of place in chunked framing";
    return otherwise;
}

/* The transitions out of a finished extension value (token or quoted-string). */
static int
pt_chunked_after_value(unsigned ch)
{
    if (ch == ';')
        return PT_CK_EXT_NAME0;
    if (ch == '\r')
        return PT_CK_SIZE_LF;
    if (pt_chunked_class[ch] & PT_CK_WS)
        return PT_CK_EXT_WS;
    return PT_CK_ERROR;
}

int
pt_chunked_parse(pt_chunked_t *c, const char *in, size_t len, size_t *consumed,
                 pt_str_t *data)
{
    const unsigned char *p = (const unsigned char *) in;
    size_t max_ext = c->max_ext ? c->max_ext : PT_CHUNKED_DEFAULT_MAX_EXT;
    size_t max_trailer = c->max_trailer ? c->max_trailer : PT_CHUNKED_DEFAULT_MAX_TRAILER;
    const char *why = NULL;
    size_t i = 0;
    unsigned ch;
    int st = c->state, v;

    *data = (pt_str_t) { NULL, 0 };
    c->trailer_off = SIZE_MAX;
    if (st == PT_CK_DONE || st == PT_CK_ERROR) {
        *consumed = 0;
        return st == PT_CK_DONE ? PT_DONE : PT_ERROR;
    }

    while (i < len) {
        if (st == PT_CK_DATA) {
            size_t n = len - i;

            if (n > c->remaining)
                n = (size_t) c->remaining;
            c->remaining -= n;
            c->state = c->remaining ? PT_CK_DATA : PT_CK_DATA_CR;
            *data = (pt_str_t) { in + i, n };
            *consumed = i + n;
            return PT_OK;
        }
        ch = p[i++];
        if (st >= PT_CK_EXT_WS && st <= PT_CK_EXT_AFTER_Q && ++c->ext_len > max_ext) {
            why = "chunk extensions too long";
            break;
        }
        if (st >= PT_CK_TR_LINE && st <= PT_CK_END_LF && ++c->trailer_len > max_trailer) {
            why = "trailer section too large";
            break;
        }

        switch (st) {
        case PT_CK_SIZE0:
            if ((v = pt_chunked_hexval(ch)) < 0) {
                why = pt_chunked_why(ch, "invalid chunk size");
                break;
            }
            c->remaining = (uint64_t) v;
            c->line_len = 1;
            c->ext_len = 0;
            st = PT_CK_SIZE;
            break;
        case PT_CK_SIZE:
            if ((v = pt_chunked_hexval(ch)) >= 0) {
                if (++c->line_len > PT_CHUNKED_MAX_DIGITS)
                    why = "chunk size has too many digits";
                else if (c->remaining >> 60)
                    why = "chunk size overflows 64 bits";
                c->remaining = c->remaining << 4 | (uint64_t) v;
                break;
            }
            c->ext_len = 1;
            if (ch == '\r')
                st = PT_CK_SIZE_LF;
            else if (ch == ';')
                st = PT_CK_EXT_NAME0;
            else if (pt_chunked_class[ch] & PT_CK_WS)
                st = PT_CK_EXT_WS;
            else
                why = pt_chunked_why(ch, "invalid chunk size");
            break;
        case PT_CK_EXT_WS:
            if (ch == ';')
                st = PT_CK_EXT_NAME0;
            else if (!(pt_chunked_class[ch] & PT_CK_WS))
                why = pt_chunked_why(ch, "whitespace after chunk size not before ';'");
            break;
        case PT_CK_EXT_NAME0:
            if (pt_chunked_class[ch] & PT_CK_TCHAR)
                st = PT_CK_EXT_NAME;
            else if (!(pt_chunked_class[ch] & PT_CK_WS))
                why = pt_chunked_why(ch, "invalid chunk extension name");
            break;
        case PT_CK_EXT_NAME:
            if (pt_chunked_class[ch] & PT_CK_TCHAR)
                break;
            if (ch == '=')
                st = PT_CK_EXT_VAL0;
            else if ((st = pt_chunked_after_value(ch)) == PT_CK_EXT_WS)
                st = PT_CK_EXT_NAME_WS;
            else if (st == PT_CK_ERROR)
                why = pt_chunked_why(ch, "invalid chunk extension name");
            break;
        case PT_CK_EXT_NAME_WS:
            if (ch == '=')
                st = PT_CK_EXT_VAL0;
            else if (ch == ';')
                st = PT_CK_EXT_NAME0;
            else if (!(pt_chunked_class[ch] & PT_CK_WS))
                why = pt_chunked_why(ch, "invalid chunk extension");
            break;
        case PT_CK_EXT_VAL0:
            if (ch == '"')
                st = PT_CK_EXT_QUOTED;
            else if (pt_chunked_class[ch] & PT_CK_TCHAR)
                st = PT_CK_EXT_TOKEN;
            else if (!(pt_chunked_class[ch] & PT_CK_WS))
                why = pt_chunked_why(ch, "invalid chunk extension value");
            break;
        case PT_CK_EXT_TOKEN:
            if (pt_chunked_class[ch] & PT_CK_TCHAR)
                break;
            /* fallthrough */
        case PT_CK_EXT_AFTER_Q:
            if ((st = pt_chunked_after_value(ch)) == PT_CK_ERROR)
                why = pt_chunked_why(ch, "invalid chunk extension value");
            break;
        case PT_CK_EXT_QUOTED:
            if (ch == '"')
                st = PT_CK_EXT_AFTER_Q;
            else if (ch == '\\')
                st = PT_CK_EXT_QPAIR;
            else if (!(pt_chunked_class[ch] & PT_CK_QDTEXT))
                why = pt_chunked_why(ch, "invalid quoted-string in chunk extension");
            break;
        case PT_CK_EXT_QPAIR:
            if (pt_chunked_class[ch] & PT_CK_VALUE)
                st = PT_CK_EXT_QUOTED;
            else
                why = pt_chunked_why(ch, "invalid quoted-pair in chunk extension");
            break;
        case PT_CK_SIZE_LF:
            if (ch != '\n') {
                why = "bare CR in chunk-size line";
                break;
            }
            c->trailer_len = 0;
            st = c->remaining ? PT_CK_DATA : PT_CK_TR_LINE;
            if (st == PT_CK_TR_LINE)
                c->trailer_off = i;
            break;
        case PT_CK_DATA_CR:
            if (ch != '\r')
                why = "no CRLF after chunk data";
            st = PT_CK_DATA_LF;
            break;
        case PT_CK_DATA_LF:
            if (ch != '\n')
                why = "no CRLF after chunk data";
            st = PT_CK_SIZE0;
            break;
        case PT_CK_TR_LINE:
            if (ch == '\r')
                st = PT_CK_END_LF;
            else if (pt_chunked_class[ch] & PT_CK_TCHAR)
                st = PT_CK_TR_NAME;
            else if (pt_chunked_class[ch] & PT_CK_WS)
                why = "obs-fold in trailer section";
            else if (ch == ':')
                why = "empty trailer field name";
            else
                why = pt_chunked_why(ch, "invalid character in trailer field name");
            break;
        case PT_CK_TR_NAME:
            if (ch == ':')
                st = PT_CK_TR_VALUE;
            else if (pt_chunked_class[ch] & PT_CK_WS)
                why = "whitespace between trailer field name and colon";
            else if (ch == '\r' || ch == '\n')
                why = "trailer field line without colon";
            else if (!(pt_chunked_class[ch] & PT_CK_TCHAR))
                why = "invalid character in trailer field name";
            break;
        case PT_CK_TR_VALUE:
            if (ch == '\r')
                st = PT_CK_TR_LF;
            else if (!(pt_chunked_class[ch] & PT_CK_VALUE))
                why = pt_chunked_why(ch, "invalid character in trailer field value");
            break;
        case PT_CK_TR_LF:
            if (ch != '\n')
                why = "bare CR in trailer section";
            st = PT_CK_TR_LINE;
            break;
        case PT_CK_END_LF:
            if (ch != '\n') {
                why = "bare CR at end of chunked body";
                break;
            }
            c->state = PT_CK_DONE;
            *consumed = i;
            return PT_DONE;
        default:
            why = "chunked decoder in a bad state";
            break;
        }
        if (why != NULL)
            break;
    }

    if (why != NULL) {
        c->state = PT_CK_ERROR;
        c->error = why;
        *consumed = i - 1;
        return PT_ERROR;
    }
    c->state = st;
    *consumed = len;
    return PT_AGAIN;
}
