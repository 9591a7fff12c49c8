/*
 * h1_write.c: the HTTP/1.1 response serializer (see h1_write.h).
 */
#include "common/pt.h"
#include "common/str.h"
#include "worker/http/h1/h1_write.h"

const pt_str_t pt_h1_write_continue = PT_STR("HTTP/1.1 100 Continue\r\n\r\n");
const pt_str_t pt_h1_write_last_chunk = PT_STR("0\r\n\r\n");

#define PT_H1PUT(lit)   (n += pt_str_put(out + n, lit, sizeof(lit) - 1))
#define PT_H1PUTS(s)    (n += pt_str_put(out + n, (s).p, (s).len))

/* The earlier values of f's id joined with ", " at out; their length. */
static size_t pt_h1_write_joined(char *out, const pt_response_t *resp, unsigned upto)
{
    unsigned id = resp->fields[upto].id;
    size_t n = 0;

    for (unsigned i = 0; i < upto; i++) {
        const pt_http_field_t *f = &resp->fields[i];
        if (f->id != id || f->value.len == 0)
            continue;
        if (n)
            PT_H1PUT(", ");
        PT_H1PUTS(f->value);
    }
    return n;
}

/* What the fields take serialized, joins and a rewritten length included. */
static size_t pt_h1_write_count(const pt_response_t *resp)
{
    size_t cap = 0, values = 0;

    for (unsigned i = 0; i < resp->nfields; i++) {
        const pt_http_field_t *f = &resp->fields[i];
        /* Hidden ones too: a joined field repeats their values. */
        values += f->value.len + 2;
        cap += f->name.len + f->value.len + 4;
        if (f->id == PT_HDR_CONTENT_LENGTH)
            cap += 24;
        if (f->flags & PT_FIELD_JOIN)
            cap += values;
    }
    return cap;
}

pt_str_t pt_h1_write_head(pt_arena_t *a, const pt_response_t *resp)
{
    pt_str_t reason = resp->reason;

    if (reason.len == 0) {
        reason.p = pt_http_reason(resp->status);
        reason.len = strlen(reason.p);
    }
    size_t cap = 128 + reason.len + (resp->bound ? resp->bound : pt_h1_write_count(resp));
    char *out = pt_arena_alloc(a, cap);
    size_t n = 0;
    if (out == NULL)
        return PT_STR_NULL;

    PT_H1PUT("HTTP/1.1 ");
    /* A status is three digits (the parser and the config make sure). */
    unsigned hundreds = resp->status / 100 % 10, rest = resp->status % 100;
    out[n++] = (char) ('0' + hundreds);
    out[n++] = (char) ('0' + rest / 10);
    out[n++] = (char) ('0' + rest % 10);
    out[n++] = ' ';
    PT_H1PUTS(reason);
    PT_H1PUT("\r\n");
    for (unsigned i = 0; i < resp->nfields; i++) {
        const pt_http_field_t *f = &resp->fields[i];
        if (f->flags & PT_FIELD_HIDDEN)
            continue;
        if (f->id == PT_HDR_CONTENT_LENGTH) {
            /* One value, as parsed or counted, whatever the field said. */
            if (resp->content_length < 0)
                continue;
            PT_H1PUT("Content-Length: ");
            n += pt_str_from_u64(out + n, (uint64_t) resp->content_length);
            PT_H1PUT("\r\n");
            continue;
        }
        PT_H1PUTS(f->name);
        PT_H1PUT(": ");
        if (f->flags & PT_FIELD_JOIN) {
            size_t prior = pt_h1_write_joined(out + n, resp, i);
            n += prior;
            if (prior)
                PT_H1PUT(", ");
        }
        PT_H1PUTS(f->value);
        PT_H1PUT("\r\n");
    }
    if (resp->flags & PT_RESP_CHUNKED)
        PT_H1PUT("Transfer-Encoding: chunked\r\n");
    if (resp->flags & PT_RESP_UPGRADE)
        PT_H1PUT("Connection: upgrade\r\n");
    else if (resp->flags & PT_RESP_CLOSE)
        PT_H1PUT("Connection: close\r\n");
    else if (resp->flags & PT_RESP_KEEPALIVE)
        PT_H1PUT("Connection: keep-alive\r\n");
    PT_H1PUT("\r\n");
    PT_ASSERT(n <= cap);
    return (pt_str_t) { out, n };
}

size_t pt_h1_write_chunk_head(char *out, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    char tmp[16];
    size_t k = 0, n = 0;

    do {
        tmp[k++] = hex[len & 15];
        len >>= 4;
    } while (len);
    while (k)
        out[n++] = tmp[--k];
    out[n++] = '\r';
    out[n++] = '\n';
    return n;
}

int pt_h1_write_sink(pt_body_chain_t *bc, pt_span_t *in)
{
    pt_h1_out_t *o = bc->data;

    /* The body's last span, alone, while nothing is held: handed on by
     * reference (filter.h: its bytes stay valid until the output is
     * flushed, and nothing follows a LAST), so a whole body made by the
     * gateway is not copied once more. */
    if (!o->chunked && o->len == 0 && in && in->next == NULL && (in->flags & PT_SPAN_LAST)) {
        o->p = (char *) in->data.p;
        o->len = in->data.len;
        o->cap = 0;
        return PT_OK;
    }

    for (pt_span_t *s = in; s; s = s->next) {
        size_t need = s->data.len + PT_H1_CHUNK_HEAD_MAX + 2 + pt_h1_write_last_chunk.len;
        if (o->len + need > o->cap) {
            size_t cap = pt_max(pt_max(o->cap * 2, o->len + need), (size_t) 4096);
            char *p = pt_arena_alloc(o->arena, cap);
            if (p == NULL)
                return PT_ERROR;
            if (o->len)
                memcpy(p, o->p, o->len);
            o->p = p;
            o->cap = cap;
        }
        if (s->data.len) {
            if (o->chunked)
                o->len += pt_h1_write_chunk_head(o->p + o->len, s->data.len);
            memcpy(o->p + o->len, s->data.p, s->data.len);
            o->len += s->data.len;
            if (o->chunked) {
                memcpy(o->p + o->len, "\r\n", 2);
                o->len += 2;
            }
        }
        if (o->chunked && (s->flags & PT_SPAN_LAST)) {
            memcpy(o->p + o->len, pt_h1_write_last_chunk.p, pt_h1_write_last_chunk.len);
            o->len += pt_h1_write_last_chunk.len;
        }
    }
    return PT_OK;
}
