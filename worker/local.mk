# worker/: serves traffic. Its directive tables run in the master at load time.

# HTTP wire format: parser (scanner, names, semantics), chunked coding, URI normalisation
libportico_a_SOURCES += worker/http_parse.c worker/http_parse.h worker/http_parse_int.h \
	worker/http_names.c worker/http_semantics.c worker/uri.c worker/uri.h
libportico_a_SOURCES += worker/http_chunked.c worker/http_chunked.h


# The event loop, connections and requests
libportico_a_SOURCES += \
	worker/core.h worker/conf.h worker/zone_conf.c worker/module.h worker/modules.c \
	worker/event.c worker/event.h worker/timer.c worker/timer.h \
	worker/conn.c worker/conn.h worker/request.c worker/request.h \
	worker/http_error.c worker/http_error.h worker/var.c worker/var.h \
	worker/worker.c worker/worker.h

# Configuration tables and the router
libportico_a_SOURCES += \
	worker/listen_conf.c worker/route_conf.c worker/upstream_conf.c \
	worker/router.c worker/router.h

# Upstreams and the proxy
libportico_a_SOURCES += \
	worker/upstream.c worker/upstream.h \
	worker/proxy.c worker/proxy.h worker/proxy_response.c worker/proxy_tunnel.c

# Modules
libportico_a_SOURCES += \
	worker/mod_return.c worker/mod_echo.c worker/mod_accesslog.c

# TLS: record I/O and handshakes, the tls blocks, shared ticket keys, SNI
# lookup, and the route options (redirect, HSTS, client certificates)
libportico_a_SOURCES += \
	worker/tls.c worker/tls.h worker/tls_conf.c worker/tls_ticket.c \
	worker/tls_sni.c worker/tls_sni.h worker/mod_tls_route.c
