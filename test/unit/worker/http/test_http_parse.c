/*
 * test_http_parse.c: the strict HTTP/1.1 head parser, as a table of raw heads and what
 * must come out of them: the status, the reason, and the facts derived from the fields.
 *
 * Every head is also fed byte by byte and in random pieces (fixed seed), each call with
 * a freshly allocated copy of exactly the bytes so far, so ASan catches a read past len
 * and a pointer kept from an earlier call; the outcome must equal the one-shot parse.
 */
#include "common/pt.h"

#include "worker/http/http_parse.h"
#include "test/unit/tap.h"

#define R(s)        s, sizeof(s) - 1
#define MAX_FIELDS  16

static const pt_http_limits_t lim_default = { 256, 1024, MAX_FIELDS };

/* One case: raw bytes, the expected result, then either the expected h->error (for a
 * failure) or space-separated facts that describe() must print (for PT_OK). */
typedef struct {
    const char *raw;
    size_t len;
    int want;
    const char *expect;
} pt_case_t;

static const pt_case_t requests[] = {
    /* well-formed */
    { R("GET / HTTP/1.1\r\nHost: example.com\r\n\r\n"), PT_OK,
      "m=GET id=1 form=origin t=/ path=/ q=- auth=- host=example.com hf=0 v=1 cl=-1 te=0 "
      "chunked=0 conn=0 ec=0 eo=0 n=1 len=37 f0=Host:example.com#1" },
    { R("GET /a/b?x=1&y HTTP/1.1\r\nHost: a\r\n\r\n"), PT_OK, "path=/a/b q=x=1&y" },
    { R("GET /a? HTTP/1.1\r\nHost: a\r\n\r\n"), PT_OK, "path=/a q=" },
    { R("GET /a?b?c HTTP/1.1\r\nHost: a\r\n\r\n"), PT_OK, "path=/a q=b?c" },
    { R("GET //x/../y HTTP/1.1\r\nHost: a\r\n\r\n"), PT_OK, "path=//x/../y" },
    { R("GET /{a}|^`\"<>\\ HTTP/1.1\r\nHost: a\r\n\r\n"), PT_OK, "path=/{a}|^`\"<>\\" },
    { R("GET / HTTP/1.0\r\n\r\n"), PT_OK, "v=0 hf=-1 host=- n=0 len=18" },
    { R("GET / HTTP/1.2\r\nHost: a\r\n\r\n"), PT_OK, "v=1" },
    { R("GET / HTTP/1.9\r\nHost: a\r\n\r\n"), PT_OK, "v=1" },
    { R("\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n"), PT_OK, "m=GET len=29" },
    { R("\r\n\r\n\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n"), PT_OK, "len=35" },
    { R("GET / HTTP/1.1\r\nHost:   a  \t\r\nX-A:\tb c \r\nX-Empty:\r\nX-Sp:   \r\n\r\n"), PT_OK,
      "n=4 f0=Host:a#1 f1=X-A:b_c#0 f2=X-Empty:#0 f3=X-Sp:#0" },
    { R("GET / HTTP/1.1\r\nHost: a\r\nX: caf\xc3\xa9\x80\xff\r\n\r\n"), PT_OK,
      "f1=X:caf\xc3\xa9\x80\xff#0" },
    { R("GET / HTTP/1.1\r\nHost: a\r\nX: \"quoted\" ;=,!~\r\n\r\n"), PT_OK,
      "f1=X:\"quoted\"_;=,!~#0" },
    { R("GET / HTTP/1.1\r\nhOsT: a\r\ncontent-LENGTH: 5\r\n\r\n"), PT_OK,
      "host=a cl=5 f0=hOsT:a#1 f1=content-LENGTH:5#2" },
    { R("GET / HTTP/1.1\r\nHost: a\r\n!#$%&'*+-.^_`|~09AZaz: v\r\n\r\n"), PT_OK,
      "f1=!#$%&'*+-.^_`|~09AZaz:v#0" },
    { R("get / HTTP/1.1\r\nHost: a\r\n\r\n"), PT_OK, "m=get id=0" },
    { R("PURGE /x HTTP/1.1\r\nHost: a\r\n\r\n"), PT_OK, "m=PURGE id=0" },
    { R("PATCH /x HTTP/1.1\r\nHost: a\r\n\r\n"), PT_OK, "id=9" },
    { R("HEAD /x HTTP/1.1\r\nHost: a\r\n\r\n"), PT_OK, "id=2" },
    { R("DELETE /x HTTP/1.1\r\nHost: a\r\n\r\n"), PT_OK, "id=5" },
    { R("TRACE /x HTTP/1.1\r\nHost: a\r\n\r\n"), PT_OK, "id=8" },
    { R("PUT /x HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n"), PT_OK, "id=4 cl=0" },

    /* Content-Length */
    { R("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\n"), PT_OK, "id=3 cl=5" },
    { R("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n"),
      PT_OK, "cl=5" },
    { R("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 5\r\n\r\n"), PT_OK, "cl=5" },
    { R("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5,5 ,\t5\r\n\r\n"), PT_OK, "cl=5" },
    { R("POST / HTTP/1.1\r\nHost: a\r\nContent-Length:  5\r\n\r\n"), PT_OK, "cl=5" },
    { R("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 007\r\n\r\n"), PT_OK, "cl=7" },
    { R("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 9007199254740992\r\n\r\n"), PT_OK,
      "cl=9007199254740992" },
    { R("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 9007199254740993\r\n\r\n"), 400,
      "invalid Content-Length" },
    { R("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999999\r\n\r\n"),
      400, "invalid Content-Length" },
    { R("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n"), 400,
      "conflicting Content-Length values" },
    { R("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 6\r\n\r\n"), 400,
      "invalid Content-Length" },
    { R("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +5\r\n\r\n"), 400,
      "invalid Content-Length" },
    { R("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n"), 400,
      "invalid Content-Length" },
    { R("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0x5\r\n\r\n"), 400,
      "invalid Content-Length" },
    { R("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5 5\r\n\r\n"), 400,
      "invalid Content-Length" },
    { R("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1e3\r\n\r\n"), 400,
      "invalid Content-Length" },
    { R("POST / HTTP/1.1\r\nHost: a\r\nContent-Length:\r\n\r\n"), 400,
      "invalid Content-Length" },
    { R("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5,\r\n\r\n"), 400,
      "invalid Content-Length" },
    { R("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: ,5\r\n\r\n"), 400,
      "invalid Content-Length" },
    { R("POST / HTTP/1.1\r\nHost: a\r\nContent-Length : 5\r\n\r\n"), 400,
      "whitespace between field name and colon" },

    /* Transfer-Encoding */
    { R("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"), PT_OK,
      "te=1 chunked=1 cl=-1" },
    { R("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: CHUNKED\r\n\r\n"), PT_OK,
      "chunked=1" },
    { R("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: , chunked,\r\n\r\n"), PT_OK,
      "chunked=1" },
    { R("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n"
        "\r\n"), 400, "both Transfer-Encoding and Content-Length" },
    { R("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n"
        "\r\n"), 400, "both Transfer-Encoding and Content-Length" },
    { R("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n"), 400,
      "Transfer-Encoding in HTTP/1.0 request" },
    { R("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, gzip\r\n\r\n"), 400,
      "final transfer coding is not chunked" },
    { R("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n"), 400,
      "final transfer coding is not chunked" },
    { R("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: identity\r\n\r\n"), 400,
      "final transfer coding is not chunked" },
    { R("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: xchunked\r\n\r\n"), 400,
      "final transfer coding is not chunked" },
    { R("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
        "Transfer-Encoding: gzip\r\n\r\n"), 400, "final transfer coding is not chunked" },
    { R("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, chunked\r\n\r\n"), 400,
      "chunked applied more than once" },
    { R("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
        "Transfer-Encoding: chunked\r\n\r\n"), 400, "chunked applied more than once" },
    { R("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"), 501,
      "unsupported transfer coding" },
    { R("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n"
        "Transfer-Encoding: chunked\r\n\r\n"), 501, "unsupported transfer coding" },
    { R("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: x;q=\"a,b\", chunked\r\n\r\n"),
      501, "unsupported transfer coding" },
    { R("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:\r\n\r\n"), 400,
      "empty Transfer-Encoding" },
    { R("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: ,\r\n\r\n"), 400,
      "empty Transfer-Encoding" },
    { R("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked;x=1\r\n\r\n"), 400,
      "invalid Transfer-Encoding" },
    { R("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked x\r\n\r\n"), 400,
      "invalid Transfer-Encoding" },
    { R("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: \"chunked\"\r\n\r\n"), 400,
      "invalid Transfer-Encoding" },
    { R("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip;q\r\n\r\n"), 400,
      "invalid Transfer-Encoding" },
    { R("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\x0b\r\n\r\n"), 400,
      "invalid character in field value" },
    { R("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding : chunked\r\n\r\n"), 400,
      "whitespace between field name and colon" },
    { R("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:\r\n chunked\r\n\r\n"), 400,
      "obs-fold or whitespace at start of field line" },

    /* line syntax */
    { R("GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n b\r\n\r\n"), 400,
      "obs-fold or whitespace at start of field line" },
    { R("GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n\tb\r\n\r\n"), 400,
      "obs-fold or whitespace at start of field line" },
    { R("GET / HTTP/1.1\r\n Host: a\r\n\r\n"), 400,
      "obs-fold or whitespace at start of field line" },
    { R("GET / HTTP/1.1\r\nHost : a\r\n\r\n"), 400, "whitespace between field name and colon" },
    { R("GET / HTTP/1.1\r\nHost\t: a\r\n\r\n"), 400, "whitespace between field name and colon" },
    { R("GET / HTTP/1.1\r\nHost: a\r\n: b\r\n\r\n"), 400, "empty field name" },
    { R("GET / HTTP/1.1\r\nHost: a\r\nNoColon\r\n\r\n"), 400, "field line without colon" },
    { R("GET / HTTP/1.1\r\nHost: a\r\nX: a\rb\r\n\r\n"), 400, "bare CR" },
    { R("GET / HTTP/1.1\r\nHost: a\r\nX: a\r\r\n\r\n"), 400, "bare CR" },
    { R("GET / HTTP/1.1\r\nHost: a\r\n\rX: a\r\n\r\n"), 400, "bare CR" },
    { R("GET / HTTP/1.1\r\nHost: a\r\n\r\r\n"), 400, "bare CR" },
    { R("GET / HTTP/1.1\r\r\nHost: a\r\n\r\n"), 400, "bare CR" },
    { R("GET / HTTP/1.1\nHost: a\n\n"), 400, "bare LF" },
    { R("GET / HTTP/1.1\r\nHost: a\n\r\n"), 400, "bare LF" },
    { R("GET / HTTP/1.1\r\nHost: a\r\n\n"), 400, "bare LF" },
    { R("GET / HTTP/1.1\r\nHost: a\r\nX\n: a\r\n\r\n"), 400, "field line without colon" },
    { R("\nGET / HTTP/1.1\r\nHost: a\r\n\r\n"), 400, "bare LF" },
    { R("GET / HTTP/1.1\r\nHost: a\r\nX: a\0b\r\n\r\n"), 400, "NUL byte" },
    { R("GET / HTTP/1.1\r\nHost: a\r\nX\0: a\r\n\r\n"), 400, "NUL byte" },
    { R("GET / HTTP/1.1\r\nHost: a\r\nX\x7f: a\r\n\r\n"), 400,
      "invalid character in field name" },
    { R("GET / HTTP/1.1\r\nHost: a\r\n\x7fX: a\r\n\r\n"), 400,
      "invalid character in field name" },
    { R("GET / HTTP/1.1\r\nHost: a\r\nX: a\x7f\r\n\r\n"), 400,
      "invalid character in field value" },
    { R("GET / HTTP/1.1\r\nHost: a\r\nX: a\x01\r\n\r\n"), 400,
      "invalid character in field value" },
    { R("GET / HTTP/1.1\r\nHost: a\r\nX\xc3\xa9: a\r\n\r\n"), 400,
      "invalid character in field name" },
    { R("GET / HTTP/1.1\r\nHost: a\r\nX(y): a\r\n\r\n"), 400,
      "invalid character in field name" },

    /* request line */
    { R("GET /\xc3\xa9 HTTP/1.1\r\nHost: a\r\n\r\n"), 400, "8-bit byte in request-target" },
    { R("GET /\x80 HTTP/1.1\r\nHost: a\r\n\r\n"), 400, "8-bit byte in request-target" },
    { R("GET /a#b HTTP/1.1\r\nHost: a\r\n\r\n"), 400, "fragment in request-target" },
    { R("GET /a\x7f HTTP/1.1\r\nHost: a\r\n\r\n"), 400, "invalid character in request-target" },
    { R("GET /a\tb HTTP/1.1\r\nHost: a\r\n\r\n"), 400, "invalid character in request-target" },
    { R("GET /a\0 HTTP/1.1\r\nHost: a\r\n\r\n"), 400, "invalid character in request-target" },
    { R("GET /a b HTTP/1.1\r\nHost: a\r\n\r\n"), 400, "invalid HTTP version" },
    { R("GET  / HTTP/1.1\r\nHost: a\r\n\r\n"), 400, "empty request-target" },
    { R("GET /  HTTP/1.1\r\nHost: a\r\n\r\n"), 400, "invalid HTTP version" },
    { R(" GET / HTTP/1.1\r\nHost: a\r\n\r\n"), 400, "invalid request line" },
    { R("GET\t/ HTTP/1.1\r\nHost: a\r\n\r\n"), 400, "invalid character in method" },
    { R("GE(T / HTTP/1.1\r\nHost: a\r\n\r\n"), 400, "invalid character in method" },
    { R("G\xc3\xa9T / HTTP/1.1\r\nHost: a\r\n\r\n"), 400, "invalid character in method" },
    { R("GET /\r\nHost: a\r\n\r\n"), 400, "no HTTP version in request line" },
    { R("GET / HTTP/1.1 \r\nHost: a\r\n\r\n"), 400, "invalid HTTP version" },
    { R("GET / HTTP/1.10\r\nHost: a\r\n\r\n"), 400, "invalid HTTP version" },
    { R("GET / HTTP/11.1\r\nHost: a\r\n\r\n"), 400, "invalid HTTP version" },
    { R("GET / HTTP/1\r\nHost: a\r\n\r\n"), 400, "invalid HTTP version" },
    { R("GET / HTTP/1.x\r\nHost: a\r\n\r\n"), 400, "invalid HTTP version" },
    { R("GET / http/1.1\r\nHost: a\r\n\r\n"), 400, "invalid HTTP version" },
    { R("GET / HTTPS/1.1\r\nHost: a\r\n\r\n"), 400, "invalid HTTP version" },
    { R("GET / HTTP/2.0\r\nHost: a\r\n\r\n"), 505, "unsupported HTTP version" },
    { R("GET / HTTP/0.9\r\nHost: a\r\n\r\n"), 505, "unsupported HTTP version" },
    { R("GET / HTTP/3.0\r\n\r\n"), 505, "unsupported HTTP version" },
    { R("\r\n\r\n\r\n\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n"), 400, "invalid request line" },
    { R("\r\n"), PT_AGAIN, NULL },
    { R("\rGET / HTTP/1.1\r\nHost: a\r\n\r\n"), 400, "invalid request line" },

    /* Host */
    { R("GET / HTTP/1.1\r\n\r\n"), 400, "no Host field in HTTP/1.1 request" },
    { R("GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n"), 400, "more than one Host field" },
    { R("GET / HTTP/1.1\r\nHost: a\r\nhost: b\r\n\r\n"), 400, "more than one Host field" },
    { R("GET / HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n"), 400, "more than one Host field" },
    { R("GET / HTTP/1.1\r\nHost: a b\r\n\r\n"), 400, "invalid Host field" },
    { R("GET / HTTP/1.1\r\nHost: a/b\r\n\r\n"), 400, "invalid Host field" },
    { R("GET / HTTP/1.1\r\nHost: u@a\r\n\r\n"), 400, "invalid Host field" },
    { R("GET / HTTP/1.1\r\nHost: a:b\r\n\r\n"), 400, "invalid Host field" },
    { R("GET / HTTP/1.1\r\nHost: a:65536\r\n\r\n"), 400, "invalid Host field" },
    { R("GET / HTTP/1.1\r\nHost: a:80:80\r\n\r\n"), 400, "invalid Host field" },
    { R("GET / HTTP/1.1\r\nHost: [::1\r\n\r\n"), 400, "invalid Host field" },
    { R("GET / HTTP/1.1\r\nHost: [::g]\r\n\r\n"), 400, "invalid Host field" },
    { R("GET / HTTP/1.1\r\nHost: [1:2:3:4:5:6:7:8:9]\r\n\r\n"), 400, "invalid Host field" },
    { R("GET / HTTP/1.1\r\nHost: [1::2::3]\r\n\r\n"), 400, "invalid Host field" },
    { R("GET / HTTP/1.1\r\nHost: [::1]x\r\n\r\n"), 400, "invalid Host field" },
    { R("GET / HTTP/1.1\r\nHost: [::1.2.3.256]\r\n\r\n"), 400, "invalid Host field" },
    { R("GET / HTTP/1.1\r\nHost: [fe80::1%25eth0]\r\n\r\n"), 400, "invalid Host field" },
    { R("GET / HTTP/1.1\r\nHost: a%4\r\n\r\n"), 400, "invalid Host field" },
    { R("GET / HTTP/1.1\r\nHost: caf\xc3\xa9\r\n\r\n"), 400, "invalid Host field" },
    { R("GET / HTTP/1.1\r\nHost: a,b\r\n\r\n"), PT_OK, "host=a,b" },
    { R("GET / HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n"), PT_OK, "host=[::1]:8080" },
    { R("GET / HTTP/1.1\r\nHost: [::ffff:1.2.3.4]\r\n\r\n"), PT_OK, "host=[::ffff:1.2.3.4]" },
    { R("GET / HTTP/1.1\r\nHost: [1:2:3:4:5:6:7:8]\r\n\r\n"), PT_OK, "hf=0" },
    { R("GET / HTTP/1.1\r\nHost: [1:2:3:4:5:6::]\r\n\r\n"), PT_OK, "hf=0" },
    { R("GET / HTTP/1.1\r\nHost: [v7.a:b]\r\n\r\n"), PT_OK, "host=[v7.a:b]" },
    { R("GET / HTTP/1.1\r\nHost: 10.0.0.1:80\r\n\r\n"), PT_OK, "host=10.0.0.1:80" },
    { R("GET / HTTP/1.1\r\nHost: %41.example\r\n\r\n"), PT_OK, "host=%41.example" },
    { R("GET / HTTP/1.1\r\nHost: a:\r\n\r\n"), PT_OK, "host=a:" },
    { R("GET / HTTP/1.1\r\nHost:\r\n\r\n"), PT_OK, "host= hf=0" },
    { R("GET / HTTP/1.1\r\nX: y\r\nHost: a\r\n\r\n"), PT_OK, "host=a hf=1" },

    /* target forms */
    { R("GET http://a.example:8080/p?q HTTP/1.1\r\nHost: other\r\n\r\n"), PT_OK,
      "form=absolute auth=a.example:8080 host=a.example:8080 hf=0 path=/p q=q "
      "f0=Host:other#1" },
    { R("GET http://a.example HTTP/1.1\r\nHost: a.example\r\n\r\n"), PT_OK,
      "form=absolute path=/ q=-" },
    { R("GET http://a.example?x HTTP/1.1\r\nHost: a.example\r\n\r\n"), PT_OK,
      "path=/ q=x auth=a.example" },
    { R("GET HTTPS://[::1]:443/x HTTP/1.1\r\nHost: a\r\n\r\n"), PT_OK,
      "auth=[::1]:443 path=/x" },
    { R("GET http://a/x HTTP/1.0\r\n\r\n"), PT_OK, "host=a hf=-1 auth=a" },
    { R("GET http://a/x HTTP/1.1\r\n\r\n"), 400, "no Host field in HTTP/1.1 request" },
    { R("GET http://a/x HTTP/1.1\r\nHost: a b\r\n\r\n"), 400, "invalid Host field" },
    { R("GET ftp://a/x HTTP/1.1\r\nHost: a\r\n\r\n"), 400, "invalid request-target" },
    { R("GET http:/a/x HTTP/1.1\r\nHost: a\r\n\r\n"), 400, "invalid request-target" },
    { R("GET http://u:p@a/x HTTP/1.1\r\nHost: a\r\n\r\n"), 400, "userinfo in authority" },
    { R("GET http:///x HTTP/1.1\r\nHost: a\r\n\r\n"), 400, "empty host" },
    { R("GET http://:80/x HTTP/1.1\r\nHost: a\r\n\r\n"), 400, "empty host" },
    { R("GET http://a:x/ HTTP/1.1\r\nHost: a\r\n\r\n"), 400, "invalid port" },
    { R("GET a/b HTTP/1.1\r\nHost: a\r\n\r\n"), 400, "invalid request-target" },
    { R("GET a.example:443 HTTP/1.1\r\nHost: a\r\n\r\n"), 400, "invalid request-target" },
    { R("OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n"), PT_OK, "id=7 form=asterisk path=* q=-" },
    { R("OPTIONS /x HTTP/1.1\r\nHost: a\r\n\r\n"), PT_OK, "id=7 form=origin" },
    { R("GET * HTTP/1.1\r\nHost: a\r\n\r\n"), 400, "asterisk-form target without OPTIONS" },
    { R("OPTIONS *x HTTP/1.1\r\nHost: a\r\n\r\n"), 400, "invalid request-target" },
    { R("CONNECT a.example:443 HTTP/1.1\r\nHost: a.example:443\r\n\r\n"), PT_OK,
      "id=6 form=authority auth=a.example:443 path= host=a.example:443" },
    { R("CONNECT [::1]:443 HTTP/1.1\r\nHost: a\r\n\r\n"), PT_OK, "auth=[::1]:443" },
    { R("CONNECT a.example HTTP/1.1\r\nHost: a\r\n\r\n"), 400, "no port in authority" },
    { R("CONNECT a.example: HTTP/1.1\r\nHost: a\r\n\r\n"), 400, "no port in authority" },
    { R("CONNECT :443 HTTP/1.1\r\nHost: a\r\n\r\n"), 400, "empty host" },
    { R("CONNECT u@a:443 HTTP/1.1\r\nHost: a\r\n\r\n"), 400, "userinfo in authority" },
    { R("CONNECT / HTTP/1.1\r\nHost: a\r\n\r\n"), 400, "CONNECT needs an authority-form target" },
    { R("CONNECT * HTTP/1.1\r\nHost: a\r\n\r\n"), 400, "CONNECT needs an authority-form target" },
    { R("CONNECT http://a:443/ HTTP/1.1\r\nHost: a\r\n\r\n"), 400,
      "CONNECT needs an authority-form target" },

    /* Connection, Expect, Upgrade */
    { R("GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"), PT_OK, "conn=1" },
    { R("GET / HTTP/1.1\r\nHost: a\r\nConnection: Keep-Alive\r\n\r\n"), PT_OK, "conn=2" },
    { R("GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade, CLOSE\r\n\r\n"), PT_OK, "conn=5" },
    { R("GET / HTTP/1.1\r\nHost: a\r\nConnection: close, , X-Foo\r\n\r\n"), PT_OK, "conn=9" },
    { R("GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\nConnection: upgrade\r\n"
        "Upgrade: websocket\r\n\r\n"), PT_OK, "conn=5 up=websocket" },
    { R("GET / HTTP/1.1\r\nHost: a\r\nConnection: closed\r\n\r\n"), PT_OK, "conn=8" },
    { R("GET / HTTP/1.1\r\nHost: a\r\nConnection: close;x\r\n\r\n"), 400, "invalid Connection" },
    { R("GET / HTTP/1.1\r\nHost: a\r\nConnection: a b\r\n\r\n"), 400, "invalid Connection" },
    { R("POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\n\r\n"), PT_OK, "ec=1 eo=0" },
    { R("POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-Continue\r\n\r\n"), PT_OK, "ec=1 eo=0" },
    { R("POST / HTTP/1.1\r\nHost: a\r\nExpect: foo\r\n\r\n"), PT_OK, "ec=0 eo=1" },
    { R("POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue=1\r\n\r\n"), PT_OK, "ec=0 eo=1" },
    { R("POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue, x\r\n\r\n"), PT_OK, "ec=1 eo=1" },
    { R("POST / HTTP/1.1\r\nHost: a\r\nExpect: @@\r\n\r\n"), PT_OK, "ec=0 eo=1" },
    { R("POST / HTTP/1.0\r\nExpect: 100-continue\r\n\r\n"), PT_OK, "ec=0 eo=0" },

    /* incomplete heads */
    { R("GET / HTTP/1.1\r\nHost: a\r\n"), PT_AGAIN, NULL },
    { R("GET / HTTP/1.1\r\nHost: a\r\n\r"), PT_AGAIN, NULL },
    { R("GET / HTTP/1.1\r"), PT_AGAIN, NULL },
    { R("GET / HTTP/1."), PT_AGAIN, NULL },
    { R("GET /abc"), PT_AGAIN, NULL },
    { R("G"), PT_AGAIN, NULL },
    { R(""), PT_AGAIN, NULL },
    { R("\r\n\r"), PT_AGAIN, NULL },
    { R("GET / HTTP/1.1\r\nHo"), PT_AGAIN, NULL },
    { R("GET / HTTP/1.1\r\nHost: a\r\nX: \x01"), 400, "invalid character in field value" },
    { R("GET / HTTP/1.1\r\nHost: a\r\nX : "), 400, "whitespace between field name and colon" },
    { R("GET / HTTP/2.0\r\n"), 505, "unsupported HTTP version" },
    { R("GET / HTTP/1.1\nHost"), 400, "bare LF" },
};

static const pt_case_t responses[] = {
    { R("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n"), PT_OK,
      "st=200 reason=OK v=1 cl=5 te=0 fc=0 n=1 hf=-1 host=-" },
    { R("HTTP/1.1 204 No Content\r\n\r\n"), PT_OK, "st=204 reason=No_Content n=0" },
    { R("HTTP/1.1 200\r\n\r\n"), PT_OK, "st=200 reason=" },
    { R("HTTP/1.1 200 \r\n\r\n"), PT_OK, "st=200 reason=" },
    { R("HTTP/1.1 404 Not  Found \t\r\n\r\n"), PT_OK, "st=404 reason=Not__Found_\t" },
    { R("HTTP/1.1 200 \xc3\xa9\r\n\r\n"), PT_OK, "reason=\xc3\xa9" },
    { R("HTTP/1.0 200 OK\r\n\r\n"), PT_OK, "v=0 cl=-1" },
    { R("HTTP/1.1 100 Continue\r\n\r\n"), PT_OK, "st=100" },
    { R("HTTP/1.1 999 Whatever\r\n\r\n"), PT_OK, "st=999" },
    { R("\r\nHTTP/1.1 200 OK\r\n\r\n"), PT_OK, "st=200 len=21" },
    { R("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n"),
      PT_OK, "st=101 conn=4 up=websocket" },
    { R("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"), PT_OK,
      "te=1 chunked=1 fc=0 cl=-1" },
    { R("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n"), PT_OK,
      "te=1 chunked=1 fc=1 cl=-1" },
    { R("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n"), PT_OK, "te=1 chunked=0 fc=0" },
    { R("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"), PT_OK, "chunked=1" },
    { R("HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"), PT_OK, "chunked=1 fc=1" },
    { R("HTTP/1.1 200 OK\r\nHost: a\r\nHost: b b\r\n\r\n"), PT_OK, "hf=-1 n=2" },
    { R("HTTP/1.1 200 OK\r\nExpect: 100-continue\r\n\r\n"), PT_OK, "ec=0" },
    { R("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n"), PT_OK, "cl=5" },
    { R("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n"), 502,
      "conflicting Content-Length values" },
    { R("HTTP/1.1 200 OK\r\nContent-Length: -5\r\n\r\n"), 502, "invalid Content-Length" },
    { R("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, chunked\r\n\r\n"), 502,
      "chunked applied more than once" },
    { R("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked;a\r\n\r\n"), 502,
      "invalid Transfer-Encoding" },
    { R("HTTP/1.1 200 OK\r\nTransfer-Encoding:\r\n\r\n"), 502, "empty Transfer-Encoding" },
    { R("HTTP/1.1 099 Low\r\n\r\n"), 502, "invalid status code" },
    { R("HTTP/1.1 2000 OK\r\n\r\n"), 502, "invalid status code" },
    { R("HTTP/1.1 20 OK\r\n\r\n"), 502, "invalid status code" },
    { R("HTTP/1.1 2x0 OK\r\n\r\n"), 502, "invalid status code" },
    { R("HTTP/1.1  200 OK\r\n\r\n"), 502, "invalid status code" },
    { R("HTTP/1.1 200\tOK\r\n\r\n"), 502, "invalid status code" },
    { R("HTTP/2.0 200 OK\r\n\r\n"), 502, "unsupported HTTP version" },
    { R("HTTP/1.10 200 OK\r\n\r\n"), 502, "invalid status code" },
    { R("http/1.1 200 OK\r\n\r\n"), 502, "invalid HTTP version" },
    { R("HTTP/1.1 200 OK\nContent-Length: 0\r\n\r\n"), 502, "bare LF" },
    { R("HTTP/1.1 200 OK\r\nContent-Length: 0\n\n"), 502, "bare LF" },
    { R("HTTP/1.1 200 O\rK\r\n\r\n"), 502, "bare CR" },
    { R("HTTP/1.1 200 O\x01K\r\n\r\n"), 502, "invalid character in reason phrase" },
    { R("HTTP/1.1 200 OK\r\nX: a\r\n b\r\n\r\n"), 502,
      "obs-fold or whitespace at start of field line" },
    { R("HTTP/1.1 200 OK\r\nX : a\r\n\r\n"), 502, "whitespace between field name and colon" },
    { R("HTTP/1.1 200 OK\r\nX: \0\r\n\r\n"), 502, "NUL byte" },
    { R("HTTP/1.1 200 OK\r\n"), PT_AGAIN, NULL },
    { R("HTTP/1.1 200 O"), PT_AGAIN, NULL },
    { R("HTTP/1.1 2"), PT_AGAIN, NULL },
    { R("HTTP/1.1 200"), PT_AGAIN, NULL },
};

static const char *const forms[] = { "origin", "absolute", "authority", "asterisk" };

/* Append " key=value" with spaces in the value shown as '_' (facts are space-separated). */
static void
put(char *out, size_t cap, const char *key, const char *p, size_t n)
{
    size_t w = strlen(out);

    w += (size_t) snprintf(out + w, cap - w, " %s=", key);
    for (size_t i = 0; i < n && w + 1 < cap; i++)
        out[w++] = p[i] == ' ' ? '_' : p[i];
    out[w] = '\0';
}

static void
put_str(char *out, size_t cap, const char *key, pt_str_t s)
{
    if (s.p == NULL)
        put(out, cap, key, "-", 1);
    else
        put(out, cap, key, s.p, s.len);
}

static void
put_num(char *out, size_t cap, const char *key, long long v)
{
    char num[32];

    snprintf(num, sizeof(num), "%lld", v);
    put(out, cap, key, num, strlen(num));
}

/* Everything a parsed head says, as "key=value" facts. */
static void
describe(const pt_http_head_t *h, char *out, size_t cap)
{
    char key[16];

    out[0] = '\0';
    put_str(out, cap, "m", h->method);
    put_num(out, cap, "id", h->method_id);
    put(out, cap, "form", forms[h->target_form], strlen(forms[h->target_form]));
    put_str(out, cap, "t", h->target);
    put_str(out, cap, "path", h->path);
    put_str(out, cap, "q", h->query);
    put_str(out, cap, "auth", h->authority);
    put_num(out, cap, "st", h->status);
    put_str(out, cap, "reason", h->reason);
    put_num(out, cap, "v", h->version_minor);
    put_str(out, cap, "host", h->host);
    put_num(out, cap, "hf", h->host_field);
    put_num(out, cap, "cl", h->content_length);
    put_num(out, cap, "te", h->has_te);
    put_num(out, cap, "chunked", h->chunked);
    put_num(out, cap, "conn", h->conn);
    put_num(out, cap, "ec", h->expect_continue);
    put_num(out, cap, "eo", h->expect_other);
    put_num(out, cap, "fc", h->framing_conflict);
    put_str(out, cap, "up", h->upgrade);
    put_num(out, cap, "n", h->nfields);
    put_num(out, cap, "len", (long long) h->head_len);
    for (unsigned i = 0; i < h->nfields; i++) {
        char fv[300];

        snprintf(key, sizeof(key), "f%u", i);
        snprintf(fv, sizeof(fv), "%.*s:%.*s#%u", (int) h->fields[i].name.len,
                 h->fields[i].name.p, (int) h->fields[i].value.len, h->fields[i].value.p,
                 h->fields[i].id);
        put(out, cap, key, fv, strlen(fv));
    }
}

/* Every space-separated fact of want appears among the facts of got. */
static bool
has_facts(const char *got, const char *want, char *missing, size_t cap)
{
    char buf[1024], *save = NULL, *tok;

    snprintf(buf, sizeof(buf), "%s", want);
    for (tok = strtok_r(buf, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
        char needle[300];
        const char *at;
        size_t n;

        n = (size_t) snprintf(needle, sizeof(needle), " %s", tok);
        at = strstr(got, needle);
        while (at != NULL && at[n] != ' ' && at[n] != '\0')
            at = strstr(at + 1, needle);
        if (at == NULL) {
            snprintf(missing, cap, "%s", tok);
            return false;
        }
    }
    return true;
}

typedef int (*parse_fn)(pt_http_head_t *, const char *, size_t, const pt_http_limits_t *,
                        size_t *);

typedef struct {
    int rc;
    const char *error;
    char facts[2048];
} outcome_t;

/* Parse raw[0..len) delivered in pieces ending at cuts[0..ncuts) (the last one is len),
 * each call on a fresh heap copy of exactly the bytes so far. */
static void
feed(parse_fn parse, const pt_http_limits_t *lim, const char *raw, const size_t *cuts,
     size_t ncuts, outcome_t *o)
{
    pt_http_field_t fields[MAX_FIELDS + 1];
    pt_http_head_t h;
    size_t scanned = 0;

    o->rc = PT_AGAIN;
    o->error = NULL;
    o->facts[0] = '\0';
    for (size_t k = 0; k < ncuts; k++) {
        char *copy = malloc(cuts[k] ? cuts[k] : 1);

        memcpy(copy, raw, cuts[k]);
        memset(&h, 0xa5, sizeof(h));
        h.fields = fields;
        o->rc = parse(&h, copy, cuts[k], lim, &scanned);
        o->error = h.error;
        if (o->rc == PT_OK)
            describe(&h, o->facts, sizeof(o->facts));
        free(copy);
        if (o->rc != PT_AGAIN)
            break;
    }
}

static bool
same(const outcome_t *a, const outcome_t *b)
{
    return a->rc == b->rc && a->error == b->error && strcmp(a->facts, b->facts) == 0;
}

/* One-shot, then byte by byte, then a few random splittings: all must agree. */
static void
check_case(const char *kind, parse_fn parse, const pt_http_limits_t *lim, const pt_case_t *c,
           size_t idx)
{
    size_t cuts[4096], n = 0;
    outcome_t one, split;
    char missing[300];

    feed(parse, lim, c->raw, &c->len, 1, &one);
    if (c->want == PT_OK) {
        bool good = one.rc == PT_OK && has_facts(one.facts, c->expect, missing, sizeof(missing));

        ok(good, "%s %zu: parses, with %s", kind, idx, c->expect);
        if (!good)
            diag("rc %d (%s), missing \"%s\" in:%s", one.rc, one.error ? one.error : "",
                 one.rc == PT_OK ? missing : "", one.facts);
    } else {
        is(one.rc, c->want, "%s %zu: status %d", kind, idx, c->want);
        if (c->expect)
            is_str(one.error, c->expect, "%s %zu: reason", kind, idx);
    }

    for (size_t i = 1; i <= c->len && n < pt_countof(cuts); i++)
        cuts[n++] = i;
    feed(parse, lim, c->raw, n ? cuts : &c->len, n ? n : 1, &split);
    ok(same(&one, &split), "%s %zu: byte by byte gives the same", kind, idx);

    for (int round = 0; round < 8; round++) {
        size_t at = 0;

        n = 0;
        while (at < c->len) {
            at += 1 + tap_rand() % 12;
            cuts[n++] = at < c->len ? at : c->len;
        }
        if (n == 0)
            cuts[n++] = 0;
        feed(parse, lim, c->raw, cuts, n, &split);
        if (!same(&one, &split)) {
            ok(0, "%s %zu: random split %d gives the same", kind, idx, round);
            diag("one-shot %d %s, split %d %s", one.rc, one.error ? one.error : "", split.rc,
                 split.error ? split.error : "");
            return;
        }
    }
    ok(1, "%s %zu: random splits give the same", kind, idx);
}

/* A request line of exactly n bytes (CRLF excluded). */
static char *
request_with_line(size_t n, const char *rest)
{
    size_t r = strlen(rest);
    char *b = malloc(n + 2 + r + 1);

    memcpy(b, "GET /", 5);
    memset(b + 5, 'a', n - 5 - 9);
    memcpy(b + n - 9, " HTTP/1.1\r\n", 11);
    memcpy(b + n + 2, rest, r + 1);
    return b;
}

static int
parse_str(const char *s, size_t len, const pt_http_limits_t *lim, pt_http_head_t *h,
          pt_http_field_t *fields)
{
    size_t scanned = 0;

    memset(h, 0, sizeof(*h));
    h->fields = fields;
    return pt_http_parse_request(h, s, len, lim, &scanned);
}

static void
test_limits(void)
{
    pt_http_limits_t lim = { 64, 256, 4 };
    pt_http_field_t fields[8];
    pt_http_head_t h;
    char *b, big[600];
    int rc;

    b = request_with_line(64, "Host: a\r\n\r\n");
    is(parse_str(b, strlen(b), &lim, &h, fields), PT_OK, "request line of max_line: ok");
    free(b);
    b = request_with_line(65, "Host: a\r\n\r\n");
    is(parse_str(b, strlen(b), &lim, &h, fields), 414, "request line of max_line + 1: 414");
    is_str(h.error, "request line too long", "414 reason");
    is(parse_str(b, 40, &lim, &h, fields), PT_AGAIN, "short prefix of a long line: again");
    is(parse_str(b, 66, &lim, &h, fields), 414, "long line known too long before its end");
    free(b);

    /* Still in the request line when the head cap hits: 414, not 431. */
    lim = (pt_http_limits_t) { 8192, 100, 4 };
    b = request_with_line(150, "Host: a\r\n\r\n");
    is(parse_str(b, strlen(b), &lim, &h, fields), 414, "request line past max_head: 414");
    free(b);

    lim = (pt_http_limits_t) { 64, 256, 4 };
    snprintf(big, sizeof(big), "GET / HTTP/1.1\r\nHost: a\r\nX: %0*d\r\n\r\n", 256 - 32, 0);
    is(strlen(big), 256, "head of exactly max_head built");
    is(parse_str(big, strlen(big), &lim, &h, fields), PT_OK, "head of max_head: ok");
    snprintf(big, sizeof(big), "GET / HTTP/1.1\r\nHost: a\r\nX: %0*d\r\n\r\n", 256 - 31, 0);
    is(parse_str(big, strlen(big), &lim, &h, fields), 431, "head of max_head + 1: 431");
    is_str(h.error, "header section too large", "431 reason");
    is(parse_str(big, 255, &lim, &h, fields), PT_AGAIN, "under max_head without end: again");
    is(parse_str(big, 256, &lim, &h, fields), 431, "max_head bytes without end: 431");

    snprintf(big, sizeof(big), "GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n");
    rc = parse_str(big, strlen(big), &lim, &h, fields);
    ok(rc == PT_OK && h.nfields == 4, "max_fields fields: ok");
    snprintf(big, sizeof(big), "GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\n\r\n");
    is(parse_str(big, strlen(big), &lim, &h, fields), 431, "max_fields + 1 fields: 431");
    is_str(h.error, "too many header fields", "too many fields reason");
    /* Syntax is checked over the whole head first, whatever the field count. */
    snprintf(big, sizeof(big),
             "GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 2\r\nC: 3\r\nD : 4\r\n\r\n");
    is(parse_str(big, strlen(big), &lim, &h, fields), 400, "syntax error beats field count");

    /* Status line cap for responses gives 502. */
    lim = (pt_http_limits_t) { 16, 256, 4 };
    {
        size_t scanned = 0;
        const char *r = "HTTP/1.1 200 A long reason\r\n\r\n";

        memset(&h, 0, sizeof(h));
        h.fields = fields;
        is(pt_http_parse_response(&h, r, strlen(r), &lim, &scanned), 502, "long status line: 502");
        is_str(h.error, "status line too long", "status line reason");
    }

    /* Zero limits fall back to the defaults; no fields array means no fields allowed. */
    lim = (pt_http_limits_t) { 0, 0, 0 };
    rc = parse_str("GET / HTTP/1.0\r\n\r\n", 18, &lim, &h, NULL);
    is(rc, PT_OK, "default limits, no fields: ok");
    rc = parse_str("GET / HTTP/1.1\r\nHost: a\r\n\r\n", 27, &lim, &h, NULL);
    is(rc, 431, "a field with no room: 431");
}

static void
test_resume(void)
{
    const char *req = "GET /path HTTP/1.1\r\nHost: a\r\nX-Long: 0123456789\r\n\r\nBODY";
    size_t len = strlen(req), scanned = 0, last = 0;
    pt_http_field_t fields[MAX_FIELDS];
    pt_http_head_t h;
    int rc = PT_AGAIN;
    bool forward = true;

    for (size_t n = 1; n <= len && rc == PT_AGAIN; n++) {
        memset(&h, 0, sizeof(h));
        h.fields = fields;
        rc = pt_http_parse_request(&h, req, n, &lim_default, &scanned);
        if (rc == PT_AGAIN) {
            forward &= scanned >= last && scanned <= n;
            last = scanned;
        }
    }
    is(rc, PT_OK, "byte by byte: parsed");
    ok(forward, "resume offset only moves forward and stays within the bytes");
    is(h.head_len, len - 4, "head_len stops before the body");
    ok(h.nfields == 2 && pt_str_eq_lit(h.fields[1].value, "0123456789"), "fields recorded");

    /* A resume offset beyond the bytes (a confused caller) restarts cleanly. */
    scanned = 10000;
    memset(&h, 0, sizeof(h));
    h.fields = fields;
    is(pt_http_parse_request(&h, req, len, &lim_default, &scanned), PT_OK, "bad offset: ok");
}

static void
test_body_rules(void)
{
    pt_http_head_t h;

    memset(&h, 0, sizeof(h));
    h.content_length = -1;
    h.status = 200;
    is(pt_http_response_body(&h, PT_METHOD_GET), PT_HTTP_BODY_CLOSE, "no framing: close");
    h.content_length = 10;
    is(pt_http_response_body(&h, PT_METHOD_GET), PT_HTTP_BODY_LENGTH, "CL: length");
    is(pt_http_response_body(&h, PT_METHOD_HEAD), PT_HTTP_BODY_NONE, "HEAD: none");
    is(pt_http_response_body(&h, PT_METHOD_CONNECT), PT_HTTP_BODY_NONE, "2xx CONNECT: none");
    h.status = 407;
    is(pt_http_response_body(&h, PT_METHOD_CONNECT), PT_HTTP_BODY_LENGTH, "407 CONNECT: length");
    h.status = 304;
    is(pt_http_response_body(&h, PT_METHOD_GET), PT_HTTP_BODY_NONE, "304: none");
    h.status = 204;
    is(pt_http_response_body(&h, PT_METHOD_GET), PT_HTTP_BODY_NONE, "204: none");
    h.status = 101;
    is(pt_http_response_body(&h, PT_METHOD_GET), PT_HTTP_BODY_NONE, "1xx: none");
    h.status = 200;
    h.has_te = true;
    h.chunked = true;
    is(pt_http_response_body(&h, PT_METHOD_POST), PT_HTTP_BODY_CHUNKED, "chunked");
    h.chunked = false;
    is(pt_http_response_body(&h, PT_METHOD_POST), PT_HTTP_BODY_CLOSE, "TE not chunked: close");

    memset(&h, 0, sizeof(h));
    h.content_length = -1;
    is(pt_http_request_body(&h), PT_HTTP_BODY_NONE, "request without framing: none");
    h.content_length = 0;
    is(pt_http_request_body(&h), PT_HTTP_BODY_LENGTH, "request CL 0: length");
    h.chunked = true;
    is(pt_http_request_body(&h), PT_HTTP_BODY_CHUNKED, "request chunked");
}

static void
test_names(void)
{
    static const char *const names[] = {
        "", "host", "content-length", "transfer-encoding", "connection", "keep-alive",
        "proxy-connection", "upgrade", "te", "trailer", "proxy-authenticate",
        "proxy-authorization", "expect", "x-forwarded-for", "x-forwarded-proto",
        "x-forwarded-host", "forwarded", "via", "x-request-id", "user-agent", "referer",
        "content-type", "date", "server", "authorization", "cookie", "accept-encoding",
        "content-encoding", "location",
    };
    bool all = true;

    is(pt_countof(names), PT_HDR__COUNT, "one name per field id");
    for (unsigned id = 1; id < PT_HDR__COUNT; id++) {
        pt_str_t canon = pt_http_hdr_name(id);
        char upper[32];

        for (size_t i = 0; i < canon.len; i++)
            upper[i] = (char) (canon.p[i] >= 'a' && canon.p[i] <= 'z' ? canon.p[i] - 32
                                                                     : canon.p[i]);
        all &= pt_http_hdr_id(names[id], strlen(names[id])) == id;
        all &= pt_http_hdr_id(canon.p, canon.len) == id;
        all &= pt_http_hdr_id(upper, canon.len) == id;
        all &= canon.len == strlen(names[id]);
    }
    ok(all, "every well-known name maps to its id in any case");
    is(pt_http_hdr_id("hosts", 5), PT_HDR_OTHER, "hosts is not Host");
    is(pt_http_hdr_id("hos", 3), PT_HDR_OTHER, "hos is not Host");
    is(pt_http_hdr_id("te_", 3), PT_HDR_OTHER, "te_ is not TE");
    is(pt_http_hdr_id("ho\rt", 4), PT_HDR_OTHER, "non-tchar name is other");
    is(pt_http_hdr_id("", 0), PT_HDR_OTHER, "empty name is other");
    is(pt_http_hdr_id("content-lengtH", 14), PT_HDR_CONTENT_LENGTH, "last byte folds");
    is(pt_http_hdr_id("content-lengtx", 14), PT_HDR_OTHER, "last byte differs");
    is(pt_http_hdr_name(PT_HDR_OTHER).len, 0, "no name for other");
    is(pt_http_hdr_name(999).len, 0, "no name out of range");

    ok(pt_str_eq_lit(pt_http_method_name(PT_METHOD_GET), "GET"), "GET name");
    ok(pt_str_eq_lit(pt_http_method_name(PT_METHOD_PATCH), "PATCH"), "PATCH name");
    is(pt_http_method_name(PT_METHOD_OTHER).len, 0, "no name for other method");
    is(pt_http_method_name(77).len, 0, "no name out of range method");

    is_str(pt_http_reason(200), "OK", "reason 200");
    is_str(pt_http_reason(431), "Request Header Fields Too Large", "reason 431");
    is_str(pt_http_reason(505), "HTTP Version Not Supported", "reason 505");
    is_str(pt_http_reason(299), "Unknown", "reason unknown");
    is_str(pt_http_reason(0), "Unknown", "reason 0");
}

int
main(void)
{
    tap_srand(0x9e3779b97f4a7c15);
    for (size_t i = 0; i < pt_countof(requests); i++)
        check_case("request", pt_http_parse_request, &lim_default, &requests[i], i);
    for (size_t i = 0; i < pt_countof(responses); i++)
        check_case("response", pt_http_parse_response, &lim_default, &responses[i], i);
    test_limits();
    test_resume();
    test_body_rules();
    test_names();
    return done_testing();
}
