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
	worker/core/metrics.c worker/core/metrics.h \
	worker/core/metrics_family.c worker/core/metrics_int.h
# the phase engine and the consumer (who is asking) that its phases set
libportico_a_SOURCES += worker/core/phase.c worker/core/phase.h \
	worker/core/consumer.c worker/core/consumer.h

# net/: client connections, accept, the I/O primitives; listen entries
libportico_a_SOURCES += worker/net/io.c worker/net/io.h \
	worker/net/conn.c worker/net/conn.h worker/net/proto.c worker/net/proto.h \
	worker/net/conn_metrics.c worker/net/conn_metrics.h \
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
	worker/http/http_cookie.c worker/http/http_cookie.h \
	worker/http/request.c worker/http/request.h \
	worker/http/request_id.c worker/http/request_id.h \
	worker/http/request_log.c worker/http/request_log.h \
	worker/http/response.c worker/http/response.h \
	worker/http/h1/h1_write.c worker/http/h1/h1_write.h \
	worker/http/h1/h1_conn.c worker/http/h1/h1_conn.h \
	worker/http/http_error.c worker/http/http_error.h \
	worker/http/cache_control.c worker/http/cache_control.h
# weighted Accept* lists (Accept-Encoding for compression)
libportico_a_SOURCES += worker/http/http_accept.c worker/http/http_accept.h
# X-Forwarded-For and Forwarded read from the right (trusted proxies)
libportico_a_SOURCES += worker/http/http_forwarded.c worker/http/http_forwarded.h

# router/: routes and the compiled router
libportico_a_SOURCES += \
	worker/router/route_conf.c worker/router/router.c worker/router/router.h

# upstream/: servers, balancing, connection pools, internal calls (subrequests)
libportico_a_SOURCES += \
	worker/upstream/upstream.c worker/upstream/upstream.h worker/upstream/upstream_conf.c \
	worker/upstream/upstream_tls.c worker/upstream/upstream_tls.h \
	worker/upstream/upstream_health.c worker/upstream/upstream_health.h \
	worker/upstream/upstream_record.c worker/upstream/upstream_record.h \
	worker/upstream/upstream_metrics.c worker/upstream/upstream_metrics.h \
	worker/upstream/subrequest.c worker/upstream/subrequest.h \
	worker/upstream/subrequest_response.c
# active health checks, retries with a budget, outlier ejection
libportico_a_SOURCES += \
	worker/upstream/upstream_probe.c worker/upstream/upstream_probe.h \
	worker/upstream/upstream_probe_conf.c \
	worker/upstream/upstream_retry.c worker/upstream/upstream_retry.h \
	worker/upstream/upstream_eject.c worker/upstream/upstream_eject.h
# dns: host-name servers re-resolved with c-ares, their shared address sets
libportico_a_SOURCES += \
	worker/upstream/upstream_dns.c worker/upstream/upstream_dns.h \
	worker/upstream/upstream_dns_conf.c worker/upstream/upstream_dns_zone.c \
	worker/upstream/upstream_dns_ares.c worker/upstream/upstream_dns_ares.h
# balancing: least_conn, hash, random, ewma; max_conns, slow_start, drain, the queue
libportico_a_SOURCES += \
	worker/upstream/upstream_balance.c worker/upstream/upstream_balance.h \
	worker/upstream/upstream_hash.c worker/upstream/upstream_ewma.c \
	worker/upstream/upstream_state.c worker/upstream/upstream_state.h \
	worker/upstream/upstream_queue.c worker/upstream/upstream_queue.h

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
	worker/mod/auth/mod_auth.c worker/mod/auth/auth.c worker/mod/auth/auth.h \
	worker/mod/auth/auth_int.h \
	worker/mod/log/mod_accesslog.c worker/mod/log/mod_debug.c \
	worker/mod/log/mod_metrics.c worker/mod/log/metrics_route.h \
	worker/mod/log/metrics_expo.c worker/mod/log/metrics_expo.h \
	worker/mod/filter/mod_hide_fields.c
# filter/compress/: gzip and brotli response compression, gunzip
libportico_a_SOURCES += \
	worker/mod/filter/compress/mod_compress.c \
	worker/mod/filter/compress/compress_accept.c worker/mod/filter/compress/compress_accept.h \
	worker/mod/filter/compress/compress_stream.c worker/mod/filter/compress/compress_stream.h \
	worker/mod/filter/compress/compress_zlib.c worker/mod/filter/compress/compress_brotli.c
# issue 16 (traffic): tracing, header transforms, canary splits, versioning
libportico_a_SOURCES += \
	worker/mod/log/trace/mod_trace.c worker/mod/log/trace/trace_context.c \
	worker/mod/log/trace/trace_context.h \
	worker/mod/log/trace/trace_export.c worker/mod/log/trace/trace_export.h \
	worker/mod/filter/mod_headers.c \
	worker/mod/content/mod_split.c \
	worker/mod/access/version/mod_api_version.c \
	worker/mod/access/version/version_parse.c worker/mod/access/version/version_parse.h
# issue 12 (authx): consumers, API keys, basic auth, ACL, address rules,
# trusted proxies, GeoIP
libportico_a_SOURCES += \
	worker/mod/access/mod_realip.c worker/mod/access/mod_address.c \
	worker/mod/access/mod_acl.c worker/mod/access/geoip/mod_geoip.c \
	worker/mod/auth/consumers.h worker/mod/auth/mod_consumers.c \
	worker/mod/auth/mod_apikey.c \
	worker/mod/auth/basic/mod_basic_auth.c \
	worker/mod/auth/basic/htpasswd.c worker/mod/auth/basic/htpasswd.h
# mod/auth/jwt/: JWT bearer tokens (strict JWS parsing, OpenSSL, key sets, JWKS URL)
libportico_a_SOURCES += \
	worker/mod/auth/jwt/mod_jwt.c worker/mod/auth/jwt/jwt_int.h \
	worker/mod/auth/jwt/jwt_b64.c worker/mod/auth/jwt/jwt_b64.h \
	worker/mod/auth/jwt/jwt_token.c worker/mod/auth/jwt/jwt_token.h \
	worker/mod/auth/jwt/jwt_verify.c worker/mod/auth/jwt/jwt_verify.h \
	worker/mod/auth/jwt/jwt_keys.c worker/mod/auth/jwt/jwt_keys.h \
	worker/mod/auth/jwt/jwt_jwks.c worker/mod/auth/jwt/jwt_cache.c worker/mod/auth/jwt/jwt_cache.h
# mod/auth/introspect/: OAuth2 token introspection, answers cached in a zone
libportico_a_SOURCES += \
	worker/mod/auth/introspect/mod_introspect.c \
	worker/mod/auth/introspect/introspect_cache.c worker/mod/auth/introspect/introspect_cache.h \
	worker/mod/auth/introspect/introspect_parse.c worker/mod/auth/introspect/introspect_parse.h
# mod/limit/ratelimit/: rate limits, throttling, concurrency limits, quotas
libportico_a_SOURCES += worker/mod/limit/ratelimit/mod_ratelimit.c \
	worker/mod/limit/ratelimit/limit_conf.c worker/mod/limit/ratelimit/limit_conf.h \
	worker/mod/limit/ratelimit/limit_gcra.c worker/mod/limit/ratelimit/limit_gcra.h \
	worker/mod/limit/ratelimit/limit_headers.c worker/mod/limit/ratelimit/limit_headers.h \
	worker/mod/limit/ratelimit/limit_key.c worker/mod/limit/ratelimit/limit_key.h \
	worker/mod/limit/ratelimit/limit_parse.c worker/mod/limit/ratelimit/limit_parse.h \
	worker/mod/limit/ratelimit/limit_state.c worker/mod/limit/ratelimit/limit_state.h \
	worker/mod/limit/ratelimit/limit_table.c worker/mod/limit/ratelimit/limit_table.h
# mod/cache/: the response cache (RFC 9111) in shared-memory zones
libportico_a_SOURCES += \
	worker/mod/cache/mod_cache.c worker/mod/cache/cache_module.h \
	worker/mod/cache/cache_key.c \
	worker/mod/cache/cache_fresh.c worker/mod/cache/cache_fresh.h \
	worker/mod/cache/cache_rules.c worker/mod/cache/cache_rules.h \
	worker/mod/cache/cache_store.c worker/mod/cache/cache_store.h \
	worker/mod/cache/cache_serve.c worker/mod/cache/cache_serve.h \
	worker/mod/cache/cache_revalidate.c
# mod/content/admin/: the admin API and the live status page (issue 16);
# status.html is compiled in as a C array by embed.sh
libportico_a_SOURCES += \
	worker/mod/content/admin/mod_admin.c worker/mod/content/admin/admin_int.h \
	worker/mod/content/admin/admin_read.c worker/mod/content/admin/admin_stats.c \
	worker/mod/content/admin/admin_workers.c \
	worker/mod/content/admin/admin_hooks.c worker/mod/content/admin/admin_hooks.h \
	worker/mod/content/admin/admin_body.c worker/mod/content/admin/admin_body.h
nodist_libportico_a_SOURCES = worker/mod/content/admin/status_html.c
worker/mod/content/admin/status_html.c: $(srcdir)/worker/mod/content/admin/status.html \
		$(srcdir)/worker/mod/content/admin/embed.sh
	$(AM_V_GEN)$(MKDIR_P) $(@D) && $(SHELL) $(srcdir)/worker/mod/content/admin/embed.sh \
		$(srcdir)/worker/mod/content/admin/status.html $@
CLEANFILES += worker/mod/content/admin/status_html.c
EXTRA_DIST += worker/mod/content/admin/status.html worker/mod/content/admin/embed.sh
# the copy-me module: compiled, so it keeps up with module.h, but not listed
libportico_a_SOURCES += worker/mod/mod_skeleton.c
EXTRA_DIST += worker/README
