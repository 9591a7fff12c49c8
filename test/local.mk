# Tests: C unit tests speak TAP; integration tests are pytest files run
# one per test so `make -j check` runs them in parallel.
TEST_EXTENSIONS = .py .sh
LOG_DRIVER = env AM_TAP_AWK='$(AWK)' $(SHELL) $(top_srcdir)/build-aux/tap-driver.sh
PY_LOG_COMPILER = $(PYTHON) -B -m pytest -p no:cacheprovider -q -rfE --rootdir=$(abs_top_srcdir)/test/integration
SH_LOG_COMPILER = $(SHELL)
AM_TESTS_ENVIRONMENT = \
	PORTICO_BIN='$(abs_top_builddir)/portico'; \
	PORTICO_SRCDIR='$(abs_top_srcdir)'; \
	PYTHONDONTWRITEBYTECODE=1; \
	export PORTICO_BIN PORTICO_SRCDIR PYTHONDONTWRITEBYTECODE;

noinst_HEADERS += test/unit/tap.h
unit_ldadd = libportico.a $(PT_LIBS)

# --- unit tests: common/ ---
UNIT_COMMON =
UNIT_COMMON += test/unit/common/test_units
test_unit_common_test_units_LDADD = $(unit_ldadd)
UNIT_COMMON += test/unit/common/test_log
test_unit_common_test_log_LDADD = $(unit_ldadd)
UNIT_COMMON += test/unit/common/test_arena
test_unit_common_test_arena_LDADD = $(unit_ldadd)
UNIT_COMMON += test/unit/common/test_str
test_unit_common_test_str_LDADD = $(unit_ldadd)
UNIT_COMMON += test/unit/common/test_clock
test_unit_common_test_clock_LDADD = $(unit_ldadd)
UNIT_COMMON += test/unit/common/test_heap
test_unit_common_test_heap_LDADD = $(unit_ldadd)
UNIT_COMMON += test/unit/common/test_hash
test_unit_common_test_hash_LDADD = $(unit_ldadd)
UNIT_COMMON += test/unit/common/test_sock
test_unit_common_test_sock_LDADD = $(unit_ldadd)
UNIT_COMMON += test/unit/common/test_slab
test_unit_common_test_slab_LDADD = $(unit_ldadd)
UNIT_COMMON += test/unit/common/test_shm
test_unit_common_test_shm_LDADD = $(unit_ldadd)
UNIT_COMMON += test/unit/common/test_shmtx
test_unit_common_test_shmtx_LDADD = $(unit_ldadd)
UNIT_COMMON += test/unit/common/test_conf
test_unit_common_test_conf_LDADD = $(unit_ldadd)
# --- unit tests: worker/ ---
UNIT_WORKER =
UNIT_WORKER += test/unit/worker/core/test_phase
test_unit_worker_core_test_phase_SOURCES = test/unit/worker/core/test_phase.c worker/core/phase.c
test_unit_worker_core_test_phase_LDADD = $(unit_ldadd)
UNIT_WORKER += test/unit/worker/core/test_consumer
test_unit_worker_core_test_consumer_LDADD = $(unit_ldadd)
UNIT_WORKER += test/unit/worker/http/test_http_parse
test_unit_worker_http_test_http_parse_SOURCES = test/unit/worker/http/test_http_parse.c \
	worker/http/http_parse.c worker/http/http_names.c worker/http/http_semantics.c worker/http/uri.c
UNIT_WORKER += test/unit/worker/http/test_http_chunked
test_unit_worker_http_test_http_chunked_SOURCES = test/unit/worker/http/test_http_chunked.c \
	worker/http/http_chunked.c
UNIT_WORKER += test/unit/worker/http/test_uri
test_unit_worker_http_test_uri_SOURCES = test/unit/worker/http/test_uri.c worker/http/uri.c
UNIT_WORKER += test/unit/worker/http/test_request_id
test_unit_worker_http_test_request_id_SOURCES = test/unit/worker/http/test_request_id.c \
	worker/http/request_id.c
test_unit_worker_http_test_request_id_LDADD = $(unit_ldadd)
UNIT_WORKER += test/unit/worker/http/test_http_error
test_unit_worker_http_test_http_error_LDADD = $(unit_ldadd)
# captures what the renderer sends instead of writing to a connection
test_unit_worker_http_test_http_error_LDFLAGS = $(AM_LDFLAGS) \
	-Wl,--wrap=pt_response_send -Wl,--wrap=pt_request_abort
UNIT_WORKER += test/unit/worker/router/test_router
test_unit_worker_router_test_router_SOURCES = test/unit/worker/router/test_router.c worker/router/router.c
test_unit_worker_router_test_router_LDADD = $(unit_ldadd)
# counts the matcher's field-name comparisons (one per candidate route)
test_unit_worker_router_test_router_LDFLAGS = $(AM_LDFLAGS) -Wl,--wrap=pt_str_caseeq
UNIT_WORKER += test/unit/worker/core/test_metrics
test_unit_worker_core_test_metrics_LDADD = $(unit_ldadd)
UNIT_WORKER += test/unit/worker/mod/log/test_metrics_expo
test_unit_worker_mod_log_test_metrics_expo_LDADD = $(unit_ldadd)
UNIT_WORKER += test/unit/worker/core/test_file_conf
test_unit_worker_core_test_file_conf_LDADD = $(unit_ldadd)
UNIT_WORKER += test/unit/worker/net/test_conn
test_unit_worker_net_test_conn_LDADD = $(unit_ldadd)
UNIT_WORKER += test/unit/worker/net/test_io
test_unit_worker_net_test_io_LDADD = $(unit_ldadd)
UNIT_WORKER += test/unit/worker/net/test_proto
test_unit_worker_net_test_proto_LDADD = $(unit_ldadd)
UNIT_WORKER += test/unit/worker/core/test_var
test_unit_worker_core_test_var_SOURCES = test/unit/worker/core/test_var.c
test_unit_worker_core_test_var_LDADD = $(unit_ldadd)
UNIT_WORKER += test/unit/worker/upstream/test_upstream
test_unit_worker_upstream_test_upstream_LDADD = $(unit_ldadd)
UNIT_WORKER += test/unit/worker/upstream/test_upstream_health
test_unit_worker_upstream_test_upstream_health_LDADD = $(unit_ldadd)
# active health checks, retries with a budget, outlier ejection
UNIT_WORKER += test/unit/worker/upstream/test_upstream_probe
test_unit_worker_upstream_test_upstream_probe_LDADD = $(unit_ldadd)
UNIT_WORKER += test/unit/worker/upstream/test_upstream_retry
test_unit_worker_upstream_test_upstream_retry_LDADD = $(unit_ldadd)
UNIT_WORKER += test/unit/worker/upstream/test_upstream_eject
test_unit_worker_upstream_test_upstream_eject_LDADD = $(unit_ldadd)
# dns: host-name servers, their slots and shared records
UNIT_WORKER += test/unit/worker/upstream/test_upstream_dns
test_unit_worker_upstream_test_upstream_dns_LDADD = $(unit_ldadd)
UNIT_WORKER += test/unit/worker/upstream/test_upstream_balance
test_unit_worker_upstream_test_upstream_balance_LDADD = $(unit_ldadd)
UNIT_WORKER += test/unit/worker/http/test_http_cookie
test_unit_worker_http_test_http_cookie_LDADD = $(unit_ldadd)
UNIT_WORKER += test/unit/worker/core/test_filter
test_unit_worker_core_test_filter_LDADD = $(unit_ldadd)
UNIT_WORKER += test/unit/worker/proxy/test_proxy_head
test_unit_worker_proxy_test_proxy_head_LDADD = $(unit_ldadd)
UNIT_WORKER += test/unit/worker/core/test_zone_conf
test_unit_worker_core_test_zone_conf_LDADD = $(unit_ldadd)
UNIT_WORKER += test/unit/worker/tls/test_tls_sni
test_unit_worker_tls_test_tls_sni_SOURCES = test/unit/worker/tls/test_tls_sni.c worker/tls/tls_sni.c
test_unit_worker_tls_test_tls_sni_LDADD = $(unit_ldadd)
UNIT_WORKER += test/unit/worker/mod/test_mod_skeleton
test_unit_worker_mod_test_mod_skeleton_LDADD = $(unit_ldadd)
UNIT_WORKER += test/unit/worker/upstream/test_subrequest
test_unit_worker_upstream_test_subrequest_LDADD = $(unit_ldadd)
UNIT_WORKER += test/unit/worker/http/test_http_accept
test_unit_worker_http_test_http_accept_LDADD = $(unit_ldadd)
UNIT_WORKER += test/unit/worker/mod/filter/compress/test_compress_accept
test_unit_worker_mod_filter_compress_test_compress_accept_LDADD = $(unit_ldadd)
UNIT_WORKER += test/unit/worker/mod/filter/compress/test_compress_stream
test_unit_worker_mod_filter_compress_test_compress_stream_LDADD = $(unit_ldadd)
# issue 12 (authx): CIDR lists, X-Forwarded-For walking, htpasswd lines
UNIT_COMMON += test/unit/common/test_cidr
test_unit_common_test_cidr_LDADD = $(unit_ldadd)
UNIT_WORKER += test/unit/worker/http/test_http_forwarded
test_unit_worker_http_test_http_forwarded_LDADD = $(unit_ldadd)
UNIT_WORKER += test/unit/worker/mod/auth/test_htpasswd
test_unit_worker_mod_auth_test_htpasswd_LDADD = $(unit_ldadd)
# mod/auth/jwt/: strict base64url, the JOSE header and claim rules
UNIT_WORKER += test/unit/worker/mod/auth/jwt/test_jwt_b64
test_unit_worker_mod_auth_jwt_test_jwt_b64_LDADD = $(unit_ldadd)
UNIT_WORKER += test/unit/worker/mod/auth/jwt/test_jwt_token
test_unit_worker_mod_auth_jwt_test_jwt_token_LDADD = $(unit_ldadd)
UNIT_WORKER += test/unit/worker/mod/auth/jwt/test_jwt_keys
test_unit_worker_mod_auth_jwt_test_jwt_keys_LDADD = $(unit_ldadd)
UNIT_WORKER += test/unit/worker/mod/auth/introspect/test_introspect_cache
test_unit_worker_mod_auth_introspect_test_introspect_cache_LDADD = $(unit_ldadd)
UNIT_WORKER += test/unit/worker/mod/auth/introspect/test_introspect_parse
test_unit_worker_mod_auth_introspect_test_introspect_parse_LDADD = $(unit_ldadd)
# mod/limit/ratelimit/
UNIT_WORKER += test/unit/worker/mod/limit/ratelimit/test_limit_gcra
test_unit_worker_mod_limit_ratelimit_test_limit_gcra_LDADD = $(unit_ldadd)
UNIT_WORKER += test/unit/worker/mod/limit/ratelimit/test_limit_table
test_unit_worker_mod_limit_ratelimit_test_limit_table_LDADD = $(unit_ldadd)
UNIT_WORKER += test/unit/worker/mod/limit/ratelimit/test_limit_state
test_unit_worker_mod_limit_ratelimit_test_limit_state_LDADD = $(unit_ldadd)
UNIT_WORKER += test/unit/worker/mod/limit/ratelimit/test_mod_ratelimit
test_unit_worker_mod_limit_ratelimit_test_mod_ratelimit_LDADD = $(unit_ldadd)
# the cache (issue 14): its header parser, freshness and age arithmetic, zone store
UNIT_WORKER += test/unit/worker/mod/cache/test_cache_control
test_unit_worker_mod_cache_test_cache_control_LDADD = $(unit_ldadd)
UNIT_WORKER += test/unit/worker/mod/cache/test_cache_store
test_unit_worker_mod_cache_test_cache_store_LDADD = $(unit_ldadd)
# issue 16 (admin): the registry of zone readers and actions
UNIT_WORKER += test/unit/worker/mod/content/admin/test_admin_hooks
test_unit_worker_mod_content_admin_test_admin_hooks_LDADD = $(unit_ldadd)
UNIT_WORKER += test/unit/worker/mod/content/admin/test_admin_body
test_unit_worker_mod_content_admin_test_admin_body_LDADD = $(unit_ldadd)

check_PROGRAMS += $(UNIT_COMMON) $(UNIT_WORKER)
TESTS += $(UNIT_COMMON) $(UNIT_WORKER)

# --- layering ---
TESTS += test/check_layering.sh
EXTRA_DIST += test/check_layering.sh

# --- man pages and examples in step with the code ---
TESTS += test/check_docs.sh test/check_examples.sh test/check_man_examples.sh
EXTRA_DIST += test/check_docs.sh test/check_examples.sh test/check_man_examples.sh \
	test/man_examples.py

# --- integration tests (pytest, the real binary) ---
INTEGRATION =
INTEGRATION += test/integration/test_00_cli.py
INTEGRATION += test/integration/test_10_process.py
INTEGRATION += test/integration/test_10_reload.py
INTEGRATION += test/integration/test_20_operator.py
INTEGRATION += test/integration/test_40_http_parse.py
INTEGRATION += test/integration/test_40_http_proxy.py
INTEGRATION += test/integration/test_40_http_route.py
INTEGRATION += test/integration/test_40_http_path_rules.py
INTEGRATION += test/integration/test_40_http_timeouts.py
INTEGRATION += test/integration/test_40_http_errors.py
INTEGRATION += test/integration/test_40_websocket.py
INTEGRATION += test/integration/test_40_return_echo.py
INTEGRATION += test/integration/test_40_module_conf.py
INTEGRATION += test/integration/test_45_robustness.py
INTEGRATION += test/integration/test_45_probe_modules.py
INTEGRATION += test/integration/test_45_memory.py
INTEGRATION += test/integration/test_50_accesslog.py
INTEGRATION += test/integration/test_50_metrics.py
INTEGRATION += test/integration/test_50_tls.py
INTEGRATION += test/integration/test_50_upstream_health.py
# active health checks, retries with a budget, outlier ejection
INTEGRATION += test/integration/test_50_upstream_probe.py
INTEGRATION += test/integration/test_50_upstream_probe_tls.py
INTEGRATION += test/integration/test_50_upstream_retry.py
INTEGRATION += test/integration/test_50_upstream_eject.py
INTEGRATION += test/integration/test_60_auth_identity.py
INTEGRATION += test/integration/test_60_hide_fields.py
INTEGRATION += test/integration/test_50_upstream_dns.py
INTEGRATION += test/integration/test_50_compress.py
# issue 12 (authx): address rules, trusted proxies, GeoIP; keys, basic, ACL
# issue 16 (traffic): trace context, API version parameters; tracing,
# header transforms, canary splits and versioning against real backends
UNIT_WORKER += test/unit/worker/mod/log/trace/test_trace_context
test_unit_worker_mod_log_trace_test_trace_context_LDADD = $(unit_ldadd)
UNIT_WORKER += test/unit/worker/mod/access/version/test_version_parse
test_unit_worker_mod_access_version_test_version_parse_LDADD = $(unit_ldadd)
INTEGRATION += test/integration/test_70_traffic_headers.py
INTEGRATION += test/integration/test_70_traffic_trace.py
INTEGRATION += test/integration/test_70_traffic_split.py
INTEGRATION += test/integration/test_70_traffic_version.py
INTEGRATION += test/integration/test_60_access_address.py
INTEGRATION += test/integration/test_60_auth_keys_basic.py
INTEGRATION += test/integration/test_50_balance.py
INTEGRATION += test/integration/test_50_ratelimit.py
INTEGRATION += test/integration/test_60_reload_load.py
# JWT and introspection (issue 12, the token half)
INTEGRATION += test/integration/test_60_jwt.py
INTEGRATION += test/integration/test_60_jwt_jwks.py
INTEGRATION += test/integration/test_60_introspect.py
EXTRA_DIST += test/integration/jwtmake.py
# issue 16 (admin): the admin API and the status page
INTEGRATION += test/integration/test_70_admin_api.py
INTEGRATION += test/integration/test_70_admin_modules.py
INTEGRATION += test/integration/test_70_admin_page.py
INTEGRATION += test/integration/test_70_admin_tls.py
INTEGRATION += test/integration/test_80_issue10_upgrade.py
INTEGRATION += test/integration/test_80_issue17_guards.py
# issue 17, second half: guards for the gateway modules' surviving mutants
INTEGRATION += test/integration/test_80_issue17_gateway.py
INTEGRATION += test/integration/test_80_issue10_chunked.py
INTEGRATION += test/integration/test_80_issue10_trailers.py
INTEGRATION += test/integration/test_80_issue10_buffering.py
INTEGRATION += test/integration/test_70_cache.py
INTEGRATION += test/integration/test_70_cache_rfc.py
TESTS += $(INTEGRATION)
EXTRA_DIST += $(INTEGRATION) test/integration/conftest.py test/integration/backends.py \
	test/integration/mmdb_writer.py
EXTRA_DIST += test/integration/dnsserver.py test/integration/promtext.py

# --- fuzz targets (./configure CC=clang --enable-fuzzing) ---
if FUZZING
FUZZ_TARGETS =
FUZZ_TARGETS += test/fuzz/fuzz_http_parse
test_fuzz_fuzz_http_parse_SOURCES = test/fuzz/fuzz_http_parse.c worker/http/http_parse.c \
	worker/http/http_names.c worker/http/http_semantics.c worker/http/uri.c
test_fuzz_fuzz_http_parse_LDFLAGS = $(AM_LDFLAGS) $(PT_FUZZ_LDFLAGS)
FUZZ_TARGETS += test/fuzz/fuzz_chunked
test_fuzz_fuzz_chunked_SOURCES = test/fuzz/fuzz_chunked.c worker/http/http_chunked.c
test_fuzz_fuzz_chunked_LDFLAGS = $(AM_LDFLAGS) $(PT_FUZZ_LDFLAGS)
# dns: the host:port splitter and merging answers into slots
FUZZ_TARGETS += test/fuzz/fuzz_upstream_dns
test_fuzz_fuzz_upstream_dns_SOURCES = test/fuzz/fuzz_upstream_dns.c
test_fuzz_fuzz_upstream_dns_LDADD = $(unit_ldadd)
test_fuzz_fuzz_upstream_dns_LDFLAGS = $(AM_LDFLAGS) $(PT_FUZZ_LDFLAGS)
FUZZ_TARGETS += test/fuzz/fuzz_accept_encoding
test_fuzz_fuzz_accept_encoding_SOURCES = test/fuzz/fuzz_accept_encoding.c \
	worker/http/http_accept.c common/str.c
test_fuzz_fuzz_accept_encoding_LDFLAGS = $(AM_LDFLAGS) $(PT_FUZZ_LDFLAGS)
# issue 12 (authx): address lists and forwarded-for walking
FUZZ_TARGETS += test/fuzz/fuzz_xff
test_fuzz_fuzz_xff_SOURCES = test/fuzz/fuzz_xff.c common/cidr.c \
	worker/http/http_forwarded.c
test_fuzz_fuzz_xff_LDADD = libportico.a $(PT_LIBS)
test_fuzz_fuzz_xff_LDFLAGS = $(AM_LDFLAGS) $(PT_FUZZ_LDFLAGS)
FUZZ_TARGETS += test/fuzz/fuzz_jwt
test_fuzz_fuzz_jwt_SOURCES = test/fuzz/fuzz_jwt.c worker/mod/auth/jwt/jwt_b64.c \
	worker/mod/auth/jwt/jwt_token.c worker/mod/auth/jwt/jwt_verify.c \
	worker/mod/auth/jwt/jwt_keys.c
test_fuzz_fuzz_jwt_LDADD = $(PT_LIBS)
test_fuzz_fuzz_jwt_LDFLAGS = $(AM_LDFLAGS) $(PT_FUZZ_LDFLAGS)
FUZZ_TARGETS += test/fuzz/fuzz_introspect
test_fuzz_fuzz_introspect_SOURCES = test/fuzz/fuzz_introspect.c common/arena.c \
	worker/mod/auth/introspect/introspect_parse.c
test_fuzz_fuzz_introspect_LDADD = $(PT_LIBS)
test_fuzz_fuzz_introspect_LDFLAGS = $(AM_LDFLAGS) $(PT_FUZZ_LDFLAGS)
FUZZ_TARGETS += test/fuzz/fuzz_admin
test_fuzz_fuzz_admin_SOURCES = test/fuzz/fuzz_admin.c common/str.c \
	worker/mod/content/admin/admin_body.c
test_fuzz_fuzz_admin_LDADD = $(PT_LIBS)
test_fuzz_fuzz_admin_LDFLAGS = $(AM_LDFLAGS) $(PT_FUZZ_LDFLAGS)
FUZZ_TARGETS += test/fuzz/fuzz_http_cookie
test_fuzz_fuzz_http_cookie_SOURCES = test/fuzz/fuzz_http_cookie.c worker/http/http_cookie.c
test_fuzz_fuzz_http_cookie_LDFLAGS = $(AM_LDFLAGS) $(PT_FUZZ_LDFLAGS)
# the cache's header parsers (issue 14)
FUZZ_TARGETS += test/fuzz/fuzz_cache_control
test_fuzz_fuzz_cache_control_SOURCES = test/fuzz/fuzz_cache_control.c \
	worker/http/cache_control.c common/str.c
test_fuzz_fuzz_cache_control_LDFLAGS = $(AM_LDFLAGS) $(PT_FUZZ_LDFLAGS)
# issue 16 (traffic): traceparent/tracestate, the Accept version parameter
FUZZ_TARGETS += test/fuzz/fuzz_trace_context
test_fuzz_fuzz_trace_context_SOURCES = test/fuzz/fuzz_trace_context.c \
	worker/mod/log/trace/trace_context.c
test_fuzz_fuzz_trace_context_LDFLAGS = $(AM_LDFLAGS) $(PT_FUZZ_LDFLAGS)
FUZZ_TARGETS += test/fuzz/fuzz_version_accept
test_fuzz_fuzz_version_accept_SOURCES = test/fuzz/fuzz_version_accept.c \
	worker/mod/access/version/version_parse.c common/str.c
test_fuzz_fuzz_version_accept_LDFLAGS = $(AM_LDFLAGS) $(PT_FUZZ_LDFLAGS)
noinst_PROGRAMS = $(FUZZ_TARGETS)
endif
EXTRA_DIST += test/fuzz/corpus test/fuzz/http_parse.dict \
	test/fuzz/fuzz_http_parse.c test/fuzz/fuzz_chunked.c test/fuzz/fuzz_upstream_dns.c \
	test/fuzz/fuzz_accept_encoding.c test/fuzz/fuzz_xff.c \
	test/fuzz/fuzz_jwt.c test/fuzz/fuzz_introspect.c test/fuzz/fuzz_admin.c \
	test/fuzz/fuzz_http_cookie.c \
	test/fuzz/fuzz_cache_control.c \
	test/fuzz/fuzz_trace_context.c test/fuzz/fuzz_version_accept.c

# --- mutation testing (slow; not part of check): test/mutate/run ---
EXTRA_DIST += test/mutate/run test/mutate/mutants.txt test/mutate/RESULTS.md
mutate:
	$(PYTHON) $(srcdir)/test/mutate/run $(MUTATE_FLAGS)
.PHONY: mutate
