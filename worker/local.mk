# worker/: serves traffic. Its directive tables run in the master at load
# time. One folder per layer; features are modules under mod/ (see
# worker/README).

# core/: the worker process, event loop, timers, the module interface and
# the request variables
libportico_a_SOURCES += worker/modules.c worker/protocols.c \
	worker/core/core.h worker/core/conf.h worker/core/module.h \
	worker/core/worker.c worker/core/worker.h worker/core/heritage.h \
	worker/core/event.c worker/core/event.h worker/core/timer.c worker/core/timer.h \
	worker/core/filter.c worker/core/filter.h \
	worker/core/var.c worker/core/var.h worker/core/zone_conf.c \
	worker/core/file_conf.c worker/core/file_conf.h \
	worker/core/metrics.c worker/core/metrics.h
# the phase engine and the consumer (who is asking) that its phases set
libportico_a_SOURCES += worker/core/phase.c worker/core/phase.h worker/core/consumer.h

# net/: client connections, accept, the I/O primitives; listen entries
libportico_a_SOURCES += worker/net/io.c worker/net/io.h \
	worker/net/conn.c worker/net/conn.h worker/net/proto.c worker/net/proto.h \
	worker/net/listen_conf.c

# tls/: record I/O and handshakes, the tls blocks, shared ticket keys, SNI
libportico_a_SOURCES += \
	worker/tls/tls.c worker/tls/tls.h worker/tls/tls_conf.c worker/tls/tls_cert.c \
	worker/tls/tls_cert.h worker/tls/tls_ticket.c \
	worker/tls/tls_sni.c worker/tls/tls_sni.h

# http/: the wire format (parser, names, semantics, chunked coding, URI
# normalisation), the request object and the error renderer
libportico_a_SOURCES += \
	worker/http/http_parse.c worker/http/http_parse.h worker/http/http_parse_int.h \
	worker/http/http_names.c worker/http/http_semantics.c \
	worker/http/uri.c worker/http/uri.h \
	worker/http/http_chunked.c worker/http/http_chunked.h \
	worker/http/request.c worker/http/request.h \
	worker/http/request_id.c worker/http/request_id.h \
	worker/http/response.c worker/http/response.h \
	worker/http/h1/h1_write.c worker/http/h1/h1_write.h \
	worker/http/h1/h1_conn.c worker/http/h1/h1_conn.h \
	worker/http/http_error.c worker/http/http_error.h \
	worker/http/cache_control.c worker/http/cache_control.h

# router/: routes and the compiled router
libportico_a_SOURCES += \
	worker/router/route_conf.c worker/router/router.c worker/router/router.h

# upstream/: servers, balancing, connection pools, internal calls (subrequests)
libportico_a_SOURCES += \
	worker/upstream/upstream.c worker/upstream/upstream.h worker/upstream/upstream_conf.c \
	worker/upstream/upstream_tls.c worker/upstream/upstream_tls.h \
	worker/upstream/upstream_health.c worker/upstream/upstream_health.h \
	worker/upstream/subrequest.c worker/upstream/subrequest.h \
	worker/upstream/subrequest_response.c

# proxy/: relaying a request to an upstream and its response back
libportico_a_SOURCES += \
	worker/proxy/proxy.c worker/proxy/proxy.h worker/proxy/proxy_response.c \
	worker/proxy/proxy_head.c worker/proxy/proxy_body.c \
	worker/proxy/proxy_tunnel.c

# mod/: the features, one mod_<name>.c each (the list is worker/modules.c)
libportico_a_SOURCES += \
	worker/mod/content/mod_proxy.c worker/mod/content/mod_return.c \
	worker/mod/content/mod_echo.c \
	worker/mod/access/mod_tls_route.c \
	worker/mod/log/mod_accesslog.c
# mod/cache/: the response cache (RFC 9111) in shared-memory zones
libportico_a_SOURCES += \
	worker/mod/cache/mod_cache.c worker/mod/cache/cache_module.h \
	worker/mod/cache/cache_key.c \
	worker/mod/cache/cache_fresh.c worker/mod/cache/cache_fresh.h \
	worker/mod/cache/cache_rules.c worker/mod/cache/cache_rules.h \
	worker/mod/cache/cache_store.c worker/mod/cache/cache_store.h \
	worker/mod/cache/cache_serve.c worker/mod/cache/cache_serve.h \
	worker/mod/cache/cache_revalidate.c
# the copy-me module: compiled, so it keeps up with module.h, but not listed
libportico_a_SOURCES += worker/mod/mod_skeleton.c
EXTRA_DIST += worker/README
