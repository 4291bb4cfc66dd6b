/* SPDX-License-Identifier: Apache-2.0 */
/*
 * config.h - tidewatch.yml: the configuration struct, its defaults, loading from YAML and
 * validation.
 *
 * The loader builds a small node tree from libyaml's event parser (keeping every node's
 * line and column) and walks it against the schema, so every error a user can make names
 * `file:line:col` and what was expected: unknown keys, duplicate keys, wrong types, bad
 * durations, bad byte sizes, bad addresses, and the sections a later version will implement
 * (remote_write, ...), which are rejected rather than silently ignored. The
 * embedded default configuration is a YAML document compiled in and read by the same loader.
 *
 * Pure: no clock, no environment; the only I/O is reading the named file in
 * tw_config_load_file() and the HPA manifest files that autoscaling.horizontal[].files names
 * (relative to the config file's folder). A loaded config is immutable by convention; the daemon
 * replaces it as a whole on reload. Thread-safe on distinct configs.
 */
#ifndef TW_DAEMON_CONFIG_H
#define TW_DAEMON_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"

struct tw_hpa_manifest;
struct tw_vpa_manifest;
struct tw_vpa_options;
struct tw_notify_config;
struct tw_scalers_config;

/* The largest configuration file the loader reads. */
#define TW_CONFIG_MAX_BYTES (4u * 1024 * 1024)

/* One external label (global.external_labels). Both strings owned by the config. */
typedef struct tw_config_label {
    char *name;
    char *value;
} tw_config_label_t;

/*
 * A loaded configuration. Every string is owned by the config (never NULL; "" when unset);
 * durations are in milliseconds, sizes in bytes.
 */
typedef struct tw_config {
    char *source; /* the file it was read from, or "<default>" for the embedded default */

    struct {
        int64_t scrape_interval_ms;         /* default 1m */
        int64_t scrape_timeout_ms;          /* default 10s; at most scrape_interval */
        int64_t evaluation_interval_ms;     /* default 1m */
        tw_config_label_t *external_labels; /* sorted by name; names are valid label names */
        size_t n_external_labels;
        char *external_url; /* "" or an absolute URL without a trailing '/' (alert links) */
    } global;

    /* scrape_configs, parsed by collector/scrape (each holds one reference, released by
     * tw_config_free()). */
    struct tw_scrape_config **scrape_configs;
    size_t n_scrape_configs;

    /* rule_files: patterns joined to the config file's folder, or "builtin:NAME" (globbed and
     * loaded by daemon/rules_loop.c); alerting: NULL when absent (daemon/config_alerting.c). */
    char **rule_files;
    size_t n_rule_files;
    struct tw_notify_config *alerting;

    struct {
        int64_t interval_ms; /* how often cgroups and /proc are read; default 10s, > 0 */
        struct {
            bool enabled;       /* default true */
            char *root;         /* default "/sys/fs/cgroup" */
            size_t max_cgroups; /* default 100000, > 0 */
        } cgroup;
        struct {
            bool enabled;              /* default true */
            char *proc_root;           /* default "/proc" */
            char *sys_root;            /* default "/sys" */
            char *rootfs;              /* default "/" */
            int64_t statfs_timeout_ms; /* default 2s, > 0 */
        } procfs;
        struct {
            char *pods_url;            /* "" (off), http(s):// or file:// */
            char *node_name;           /* "": $NODE_NAME, else the hostname (the daemon decides) */
            char *bearer_token_file;   /* "": none */
            char *ca_file;             /* "": system CAs */
            bool insecure_skip_verify; /* default false */
            int64_t refresh_interval_ms; /* default 30s, > 0 */
        } kubernetes;
    } collector;

    struct {
        char *path;                     /* default "./data" */
        int64_t retention_time_ms;      /* default 15d */
        uint64_t retention_size_bytes;  /* default 0 (no size limit) */
        int64_t out_of_order_window_ms; /* tsdb.out_of_order_time_window; default 0 */
        int wal_fsync;                  /* tw_tsdb_fsync_policy_t; default always */
        int64_t wal_fsync_interval_ms;  /* for fsync: interval; default 1s */
        uint64_t wal_segment_bytes;     /* default 128MB */
    } storage;

    struct {
        char *listen_address;          /* default "127.0.0.1:9475"; host:port, [v6]:port, :port */
        unsigned max_connections;      /* default 512, > 0 */
        int64_t read_timeout_ms;       /* default 5m, > 0 */
        size_t max_request_body_bytes; /* default 10485760, > 0 */
    } web;

    /* query: the PromQL engine and the HTTP API (docs/configuration.md, docs/promql.md). */
    struct {
        int compat;                /* tw_promql_compat_t; default prometheus3 */
        int64_t lookback_delta_ms; /* default 5m, > 0 */
        uint64_t max_samples;      /* default 50000000, > 0 */
        int64_t timeout_ms;        /* default 2m, > 0 */
        bool delayed_name_removal; /* default false (a Prometheus 3.5 feature flag) */
    } query;

    /*
     * kubernetes: how to reach the API server (the autoscaler's driver, leader election). With
     * kubeconfig set that file's context is used, otherwise the in-cluster service account
     * (KUBERNETES_SERVICE_HOST/PORT). docs/configuration.md, "kubernetes".
     */
    struct {
        bool configured;               /* the section is present */
        char *kubeconfig;              /* "": in-cluster */
        char *context;                 /* "": current-context */
        char *server;                  /* "": the kubeconfig's / in-cluster server */
        char *service_account_dir;     /* "": /var/run/secrets/kubernetes.io/serviceaccount */
        char *namespace;               /* "": the context's, else the SA's, else "default" */
        bool insecure_skip_tls_verify; /* default false: TLS is verified */
        double qps;                    /* default 5 (client-go's) */
        uint64_t burst;                /* default 10 */
        int64_t timeout_ms;            /* per request, default 10s */
    } kubernetes;

    /* autoscaling: the horizontal autoscalers and their driver (docs/autoscaling-hpa.md). */
    struct {
        int64_t sync_period_ms;              /* default 5s (the HPA's is 15s) */
        struct tw_hpa_manifest **horizontal; /* owned, n_horizontal entries, document order */
        size_t n_horizontal;
        /* vertical[] and recommender: daemon/config_vpa.c, docs/autoscaling-vpa.md */
        struct tw_vpa_manifest **vertical; /* owned, n_vertical entries, document order */
        size_t n_vertical;
        struct tw_vpa_options *recommender; /* owned; NULL: the VPA's defaults */
        /* admission_webhook: the VPA's mutating webhook, on a TLS listener of its own */
        struct {
            char *listen_address; /* "": no webhook (Recreate patches the pod template) */
            char *cert_file;      /* PEM, required with listen_address */
            char *key_file;       /* PEM, required with listen_address */
        } admission_webhook;
        struct tw_scalers_config *scalers; /* owned, never NULL: metric_queries, resource_window */
        size_t max_decisions;              /* decisions kept per autoscaler, default 20 */
        struct {
            double tolerance;                     /* default 0.1 */
            int64_t cpu_initialization_period_ms; /* default 5m */
            int64_t initial_readiness_delay_ms;   /* default 30s */
            int64_t downscale_stabilization_ms;   /* default 5m (legacy path) */
            bool scale_to_zero;                   /* gate HPAScaleToZero, default false */
            bool configurable_tolerance;          /* gate HPAConfigurableTolerance, false */
        } controller;
        struct {
            char *type;             /* dryrun (default), kubernetes, nomad, exec */
            uint64_t max_conflicts; /* 409 re-reads per write, default 3 */
            struct {
                uint64_t max_retries;      /* 429/5xx retries per call, default 3 */
                int64_t max_retry_wait_ms; /* longest Retry-After honoured, default 30s */
            } kubernetes;
            struct {
                char *address, *token_file, *namespace, *region, *ca_file, *cert_file, *key_file;
                bool insecure_skip_tls_verify;
                int64_t timeout_ms; /* default 10s */
            } nomad;
            struct {
                char **scale_command; /* NULL-terminated argv templates; NULL when unset */
                char **get_command;   /* NULL-terminated, or NULL */
                int64_t timeout_ms;   /* default 30s */
            } exec;
            uint64_t dryrun_max_records; /* default 1000 */
        } driver;
        struct {
            bool enabled;    /* default false: this replica always acts */
            char *namespace; /* default "default" */
            char *name;      /* default "tidewatch-autoscaler" */
            char *identity;  /* "": hostname_pid */
            int64_t lease_duration_ms, renew_deadline_ms, retry_period_ms; /* 15s, 10s, 2s */
        } leader_election;
    } autoscaling;
} tw_config_t;

/*
 * Values given on the command line, which override the file's. NULL fields are not set. The
 * strings are borrowed for the call.
 */
typedef struct tw_config_overrides {
    const char *listen_address;       /* --web.listen-address */
    const char *storage_path;         /* --storage.tsdb.path */
    const char *retention_time;       /* --storage.tsdb.retention.time */
    const char *query_compat;         /* --query.compat: prometheus3 or prometheus2 */
    const char *query_lookback_delta; /* --query.lookback-delta */
    const char *query_max_samples;    /* --query.max-samples */
    const char *query_timeout;        /* --query.timeout */
} tw_config_overrides_t;

/* The embedded default configuration, a YAML document (static string). */
const char *tw_config_default_yaml(void);

/*
 * Parses the YAML document data[0..len) (need not be NUL-terminated) named name (used in error
 * positions; "<default>", a path, ...). On success *out receives a new config the caller frees
 * with tw_config_free(). On failure returns TW_EPARSE (bad YAML) or TW_EINVAL (a value or a
 * key the schema does not accept) and err holds the file, line, column and message;
 * *out is untouched.
 */
int tw_config_load_mem(const char *data, size_t len, const char *name, tw_config_t **out,
                       tw_error_t *err);

/* Reads path (at most TW_CONFIG_MAX_BYTES) and loads it like tw_config_load_mem(). I/O errors
 * return -errno with the path in err. */
int tw_config_load_file(const char *path, tw_config_t **out, tw_error_t *err);

/* Loads the embedded default. Never fails in a correct build; returns like tw_config_load_mem. */
int tw_config_load_default(tw_config_t **out, tw_error_t *err);

/*
 * Applies command-line overrides to c, validating them like the file's values (errors name the
 * flag: "--web.listen-address: invalid address ..."). On error c is unchanged.
 */
int tw_config_apply_overrides(tw_config_t *c, const tw_config_overrides_t *o, tw_error_t *err);

/* Frees a config. NULL is a no-op. */
void tw_config_free(tw_config_t *c);

/*
 * Parses a byte size the way Prometheus' units.Base2Bytes does: "0", or one or more
 * number-unit pairs ("512MB", "1GB512MB", "1.5GB") with units B, KB, MB, GB, TB, PB, EB (and
 * KiB ... EiB), all powers of 1024. Returns 0 or TW_EINVAL (also on overflow).
 */
int tw_config_bytes_parse(const char *s, uint64_t *out);

/*
 * Checks a listen address: "host:port", "[v6addr]:port" or ":port" with a port in 0..65535.
 * Returns 0 or TW_EINVAL.
 */
int tw_config_listen_address_check(const char *s);

#endif
