/*
 * main.c: portico's command line. Everything else lives in libportico.a.
 */
#include "common/pt.h"
#include "common/log.h"
#include "common/proctitle.h"
#include "master/conf_load.h"
#include "master/daemon.h"
#include "master/master.h"
#include "worker/core/module.h"

#include <sys/stat.h>
#include <getopt.h>
#include <stdarg.h>
#include <openssl/crypto.h>
#include <openssl/opensslv.h>
#include <ares.h>
#include <crypt.h>
#include <jansson.h>
#include <libconfig.h>
#include <maxminddb.h>
#include <zlib.h>
#ifdef PT_HAVE_BROTLI
#include <brotli/encode.h>
#endif
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#define PT_EXIT_OK      0
#define PT_EXIT_CONFIG  1
#define PT_EXIT_USAGE   2

static const struct option pt_main_options[] = {
    { "config", required_argument, NULL, 'c' },
    { "test", no_argument, NULL, 't' },
    { "dump", no_argument, NULL, 'T' },
    { "signal", required_argument, NULL, 's' },
    { "foreground", no_argument, NULL, 'F' },
    { "workers", required_argument, NULL, 'w' },
    { "pidfile", required_argument, NULL, 'p' },
    { "version", no_argument, NULL, 'V' },
    { "help", no_argument, NULL, 'h' },
    { NULL, 0, NULL, 0 }
};

static void pt_main_usage(FILE *out)
{
    fprintf(out,
            "Usage: portico [options]\n"
            "  -c, --config FILE    configuration file (default %s)\n"
            "  -t, --test           check the configuration and exit\n"
            "  -T, --dump           check the configuration and print it with all defaults\n"
            "  -s, --signal NAME    send NAME to the running master: stop, quit, reload, reopen\n"
            "  -F, --foreground     stay in the foreground (logs go to stderr unless\n"
            "                       error_log is set)\n"
            "  -w, --workers N      run N workers (overrides \"workers\")\n"
            "  -p, --pidfile FILE   pid file (overrides \"pidfile\")\n"
            "  -V, --version        print the version and the compiled-in features\n"
            "  -h, --help           print this help\n", PT_CONF_PATH);
}

/* What the binary runs with: each library's own idea of its version, at
 * run time (a package upgrade shows here without a rebuild). */
static void pt_main_version(void)
{
    unsigned pcre_len = (unsigned) pcre2_config(PCRE2_CONFIG_VERSION, NULL);
    char pcre[64] = "?";

    if (pcre_len > 0 && pcre_len <= sizeof(pcre))
        pcre2_config(PCRE2_CONFIG_VERSION, pcre);
    printf("portico %s\n", PACKAGE_VERSION);
    printf("libraries:\n");
    printf("  %s\n", OpenSSL_version(OPENSSL_VERSION));
    printf("  libconfig %d.%d.%d (compiled in: it has no run-time version call)\n",
           LIBCONFIG_VER_MAJOR, LIBCONFIG_VER_MINOR, LIBCONFIG_VER_REVISION);
    printf("  zlib %s\n", zlibVersion());
    printf("  PCRE2 %s\n", pcre);
    printf("  libmaxminddb %s\n", MMDB_lib_version());
    printf("  jansson %s\n", jansson_version_str());
    printf("  c-ares %s\n", ares_version(NULL));
#ifdef XCRYPT_VERSION_STR
    printf("  libxcrypt %s\n", XCRYPT_VERSION_STR);
#endif
#ifdef PT_HAVE_BROTLI
    uint32_t bv = BrotliEncoderVersion();
    printf("  brotli %u.%u.%u\n", bv >> 24, (bv >> 12) & 0xfff, bv & 0xfff);
#endif
#ifdef PT_SANITIZERS
    printf("built with: ASan+UBSan\n");
#endif
    printf("modules:");
    for (size_t i = 0; i < pt_nmodules; i++)
        printf(" %s", pt_modules[i]->name);
    printf("\nconfiguration: %s\n", PT_CONF_PATH);
}

/* A usage error: one line on stderr, exit 2. */
static PT_NORETURN PT_PRINTF(1, 2) void pt_main_bad(const char *fmt, ...)
{
    va_list ap;

    fputs("portico: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputs(" (see portico --help)\n", stderr);
    exit(PT_EXIT_USAGE);
}

/* The option getopt just refused, as written: a short one by its letter
 * (argv[optind - 1] is not it inside a cluster such as -xF), a long one
 * without its =value. */
static const char *pt_main_optname(char **argv, char *buf, size_t len)
{
    const char *arg = argv[optind - 1];

    if (optopt != 0 && strncmp(arg, "--", 2) != 0)
        snprintf(buf, len, "-%c", optopt);
    else
        snprintf(buf, len, "%.*s", (int) strcspn(arg, "="), arg);
    return buf;
}

/* The command line kept for the master's title: it lives as long as the
 * process; held here (volatile: the store stays) so that LeakSanitizer
 * sees it as reachable rather than leaked at exit. */
static char *volatile pt_main_args;

int main(int argc, char **argv)
{
    pt_master_opts_t o = { .conf_path = PT_CONF_PATH, .workers = -1 };
    bool test = false, dump = false;
    const char *signame = NULL;
    char name[64];
    int c;

    /* The command line as given, for the master's title; then argv's
     * memory becomes the title (proctitle.h). */
    size_t args_len = 1;
    for (int i = 1; i < argc; i++)
        args_len += strlen(argv[i]) + 1;
    char *args = malloc(args_len);
    pt_main_args = args;
    if (args) {
        args[0] = '\0';
        for (int i = 1; i < argc; i++) {
            strcat(args, " ");
            strcat(args, argv[i]);
        }
        o.args = args;
    }
    pt_proctitle_init(argc, argv);
    pt_module_setup();
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":c:tTs:Fw:p:Vh", pt_main_options, NULL)) != -1) {
        switch (c) {
        case 'c':
            o.conf_path = optarg;
            break;
        case 't':
            test = true;
            break;
        case 'T':
            dump = true;
            break;
        case 's':
            signame = optarg;
            break;
        case 'F':
            o.foreground = true;
            break;
        case 'w': {
            char *end;
            long n = strtol(optarg, &end, 10);
            if (*optarg == '\0' || *end != '\0' || n < 1 || n > 512)
                pt_main_bad("invalid worker count \"%s\" (1 to 512)", optarg);
            o.workers = n;
            break;
        }
        case 'p':
            o.pidfile = optarg;
            break;
        case 'V':
            pt_main_version();
            return PT_EXIT_OK;
        case 'h':
            pt_main_usage(stdout);
            return PT_EXIT_OK;
        case ':':
            pt_main_bad("option %s needs a value", pt_main_optname(argv, name, sizeof(name)));
        default:
            pt_main_optname(argv, name, sizeof(name));
            if (optopt != 0 && strncmp(argv[optind - 1], "--", 2) == 0
                && strchr(argv[optind - 1], '=') != NULL)
                pt_main_bad("option %s takes no value", name);
            pt_main_bad("unknown option %s", name);
        }
    }
    if (optind < argc)
        pt_main_bad("unexpected argument \"%s\"", argv[optind]);

    if (signame) {
        char err[512];
        const char *pidfile = o.pidfile;
        pt_conf_t *conf = NULL;
        if (pidfile == NULL) {
            char *errors = NULL;
            conf = pt_conf_load(o.conf_path, 0, &errors);
            if (conf == NULL) {
                /* Say what is wrong first, as -t would: a reload of this
                 * file could only fail, and its pidfile is unknown. */
                fputs(errors, stderr);
                free(errors);
                errors = NULL;
                if (strcmp(signame, "reload") == 0) {
                    fprintf(stderr, "portico: configuration file %s test failed; not "
                            "signalling the master (it keeps its configuration)\n",
                            o.conf_path);
                    return PT_EXIT_CONFIG;
                }
                fprintf(stderr, "portico: configuration file %s test failed; trying the "
                        "default pid file %s\n", o.conf_path, PT_PID_PATH);
            }
            free(errors);
            pidfile = conf ? conf->main.pidfile : PT_PID_PATH;
        }
        int rc = pt_signal_master(pidfile, signame, err, sizeof(err));
        pt_conf_free(conf);
        if (rc != 0) {
            fprintf(stderr, "portico: %s\n", err);
            return strncmp(err, "unknown signal", 14) == 0 ? PT_EXIT_USAGE : PT_EXIT_CONFIG;
        }
        return PT_EXIT_OK;
    }

    char *errors = NULL;
    pt_conf_t *conf = pt_conf_load(o.conf_path, 1, &errors);
    if (conf == NULL) {
        fputs(errors, stderr);
        if (test || dump)
            fprintf(stderr, "configuration file %s test failed\n", o.conf_path);
        free(errors);
        return PT_EXIT_CONFIG;
    }
    if (test || dump) {
        /* What starting would open, opened now: -t passes only if a start
         * would get past its files. */
        char err[512];
        if (pt_conf_check_files(conf, err, sizeof(err)) != PT_OK
            || pt_conf_check_pidfile(o.pidfile ? o.pidfile : conf->main.pidfile, err,
                                     sizeof(err)) != PT_OK) {
            fprintf(stderr, "%s: %s\nconfiguration file %s test failed\n", o.conf_path, err,
                    o.conf_path);
            pt_conf_free(conf);
            return PT_EXIT_CONFIG;
        }
        if (dump)
            pt_conf_dump_all(stdout, conf);
        fprintf(stderr, "configuration file %s test is successful\n", o.conf_path);
        pt_conf_free(conf);
        return PT_EXIT_OK;
    }
    return pt_master_run(&o, conf);
}
