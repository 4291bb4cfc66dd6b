/* SPDX-License-Identifier: Apache-2.0 */
/*
 * scrape_int.h - declarations shared inside collector/scrape/ only: relabel regexes (on
 * common/regex.h) and Go's template expansion, MD5, the label builder, relabel rules, the config
 * struct, target building, file_sd parsing, the string-keyed hash table and the per-target append
 * state (the series cache and staleness sets). No other folder includes this file.
 *
 * Everything here except the loop/manager is pure: no I/O (file_sd parsing takes the bytes), no
 * clock (time is a parameter), no logging. Thread model: one owner per object; configs and rules
 * are immutable after parsing and may be read from any thread.
 */
#ifndef TW_COLLECTOR_SCRAPE_INT_H
#define TW_COLLECTOR_SCRAPE_INT_H

#include <jansson.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "collector/scrape/scrape.h"
#include "common/arena.h"
#include "common/buf.h"
#include "common/regex.h"

/* The Prometheus stale NaN (value.StaleNaN). */
#define TW_SCRAPE_STALE_NAN_BITS 0x7ff0000000000002ULL
/* Returns the stale NaN as a double. */
double tw_scrape_stale_nan(void);
/* Whether v has exactly the stale NaN bit pattern. */
bool tw_scrape_is_stale_nan(double v);

/* The Accept header Prometheus 2.42 sends (captured in the shared conformance fixtures). */
#define TW_SCRAPE_ACCEPT_HEADER                                                                    \
    "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;"       \
    "q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"

/* ---- regexes ---------------------------------------------------------------------------- */

/* Most capture groups a relabel regex may have (the so/eo arrays callers keep on the stack). */
#define TW_SCRAPE_RE_MAX_GROUPS 64

/*
 * A relabel regex: RE2 syntax compiled by common/regex.h, fully anchored and with '.' matching a
 * newline, as Prometheus 3's relabel.NewRegexp ("^(?s:" + s + ")$"). Captures are RE2's
 * (leftmost-first). Immutable once compiled; matching is thread-safe.
 */
typedef struct tw_scrape_re {
    tw_regex_t *re; /* owned; NULL until compiled */
    char *src;      /* the pattern as written (owned) */
    int ngroups;    /* capturing groups, without group 0 */
} tw_scrape_re_t;

/*
 * Compiles src. On error returns TW_EINVAL with "invalid regex <src>: <what>" in errbuf (size
 * errsz), what naming the construct RE2 refuses.
 */
int tw_scrape_re_compile(tw_scrape_re_t *re, const char *src, char *errbuf, size_t errsz);
/* Frees what compile allocated; safe on a zeroed or failed struct. */
void tw_scrape_re_fini(tw_scrape_re_t *re);
/*
 * Matches s (NUL-terminated) against the anchored pattern. Returns true on a match, with
 * so/eo[0..ngroups] (byte offsets; -1 for unset groups) when so/eo are not NULL. A match that
 * hits the engine's bound is no match (counted in tw_regex_limit_hits(re->re)).
 */
bool tw_scrape_re_match(const tw_scrape_re_t *re, const char *s, int *so, int *eo);
/*
 * Appends template with $1, ${1}, $name, ${name} and $$ expanded like Go's Regexp.Expand
 * ("$1x" is the group named "1x", which does not exist: empty). Returns 0 or TW_ELIMIT.
 */
int tw_scrape_re_expand(const tw_scrape_re_t *re, const char *tmpl, const char *s, const int *so,
                        const int *eo, tw_buf_t *out);

/* ---- MD5 (RFC 1321), for hashmod ------------------------------------------------------------ */

void tw_scrape_md5(const void *data, size_t len, uint8_t out[16]);

/* ---- FNV-1a 64 (Go's hash/fnv New64a), for target hashes and the jitter seed ---------------- */

uint64_t tw_scrape_fnv64a(uint64_t h, const void *data, size_t len);
#define TW_SCRAPE_FNV64_OFFSET 14695981039346656037ULL

/* ---- label builder ----------------------------------------------------------------------- */

/* An unsorted, mutable label set; strings live in arena a (or are borrowed statics). */
typedef struct tw_scrape_lb {
    tw_label_t *v;
    size_t n;
    size_t cap;
    tw_arena_t *a; /* borrowed */
} tw_scrape_lb_t;

void tw_scrape_lb_init(tw_scrape_lb_t *b, tw_arena_t *a);
void tw_scrape_lb_fini(tw_scrape_lb_t *b);
void tw_scrape_lb_reset(tw_scrape_lb_t *b);
/* Value of name, or "" when absent (like labels.Builder.Get). */
const char *tw_scrape_lb_get(const tw_scrape_lb_t *b, const char *name);
/* Sets name (copied into the arena with value); an empty value deletes it. */
void tw_scrape_lb_set(tw_scrape_lb_t *b, const char *name, const char *value);
void tw_scrape_lb_del(tw_scrape_lb_t *b, const char *name);
/* Sorts by name in place. */
void tw_scrape_lb_sort(tw_scrape_lb_t *b);
/* Applies rules in place. Returns true when kept. */
bool tw_scrape_lb_relabel(tw_scrape_lb_t *b, const tw_relabel_rules_t *rules);

/* ---- relabel rules ------------------------------------------------------------------------- */

typedef enum {
    TW_RELABEL_REPLACE = 0,
    TW_RELABEL_KEEP,
    TW_RELABEL_DROP,
    TW_RELABEL_KEEPEQUAL,
    TW_RELABEL_DROPEQUAL,
    TW_RELABEL_HASHMOD,
    TW_RELABEL_LABELMAP,
    TW_RELABEL_LABELDROP,
    TW_RELABEL_LABELKEEP,
    TW_RELABEL_LOWERCASE,
    TW_RELABEL_UPPERCASE,
} tw_relabel_action_t;

typedef struct tw_relabel_rule {
    tw_relabel_action_t action;
    char **source_labels; /* owned */
    size_t nsource;
    bool source_set; /* source_labels given (even empty) */
    char *separator;
    tw_scrape_re_t regex;
    bool regex_default; /* regex left at "(.*)" */
    uint64_t modulus;
    char *target_label;
    char *replacement;
} tw_relabel_rule_t;

struct tw_relabel_rules {
    tw_relabel_rule_t *v;
    size_t n;
};

/* ---- scrape config ------------------------------------------------------------------------ */

typedef struct tw_scrape_group {
    tw_label_t *targets; /* each: {"__address__", addr}; the value owned */
    size_t ntargets;
    tw_label_t *labels; /* group labels, owned */
    size_t nlabels;
    /* Per-target labels besides __address__ (kubernetes_sd; NULL for static and file_sd):
     * tlabels[i][0..ntlabels[i]) belong to targets[i] and take precedence over the group's
     * labels, as in a Prometheus targetgroup.Group. Names and values owned. */
    tw_label_t **tlabels;
    size_t *ntlabels;
} tw_scrape_group_t;

typedef struct tw_scrape_file_sd {
    char **files; /* patterns, resolved against base_dir */
    size_t nfiles;
    int64_t refresh_interval_ms; /* default 5m */
} tw_scrape_file_sd_t;

/* kubernetes_sd_configs roles (and selector roles: service is one only for selectors). */
enum {
    TW_SCRAPE_KUBE_ROLE_NODE = 0,
    TW_SCRAPE_KUBE_ROLE_POD,
    TW_SCRAPE_KUBE_ROLE_ENDPOINTS,
    TW_SCRAPE_KUBE_ROLE_SERVICE,
    TW_SCRAPE_KUBE_NROLES,
};

/* One kubernetes_sd_configs item. Every string owned (NULL: not set). */
typedef struct tw_scrape_kube_sd {
    int role;              /* TW_SCRAPE_KUBE_ROLE_NODE, _POD or _ENDPOINTS */
    char *api_server;      /* NULL: kubeconfig_file or in-cluster */
    char *kubeconfig_file; /* resolved against base_dir */
    char **namespaces;     /* namespaces.names; none: all namespaces */
    size_t nnamespaces;
    bool own_namespace;                          /* namespaces.own_namespace */
    char *selector_label[TW_SCRAPE_KUBE_NROLES]; /* selectors[].label by role */
    char *selector_field[TW_SCRAPE_KUBE_NROLES]; /* selectors[].field by role */
    /* HTTP client settings (only with api_server) */
    char *bearer_token;
    char *bearer_token_file;
    char *ca_file;
    char *cert_file;
    char *key_file;
    bool insecure_skip_verify;
    char *sa_dir; /* the service account folder for in-cluster config (tests); NULL: default */
} tw_scrape_kube_sd_t;

struct tw_scrape_config {
    atomic_int refs;
    char *job_name;
    int64_t interval_ms;
    int64_t timeout_ms;
    char *metrics_path; /* default "/metrics" */
    char *scheme;       /* default "http" */
    tw_label_t *params; /* name -> first value (Prometheus' url.Values, first value used) */
    size_t nparams;
    char ***param_values; /* all values per param (for the URL) */
    size_t *nparam_values;
    bool honor_labels;
    bool honor_timestamps; /* default true */
    tw_scrape_group_t *static_groups;
    size_t nstatic;
    tw_scrape_file_sd_t *file_sd;
    size_t nfile_sd;
    tw_scrape_kube_sd_t *kube_sd;
    size_t nkube_sd;
    tw_relabel_rules_t *relabel;
    tw_relabel_rules_t *metric_relabel;
    uint64_t sample_limit;
    uint64_t label_limit;
    uint64_t label_name_length_limit;
    uint64_t label_value_length_limit;
    uint64_t body_size_limit; /* bytes, 0: none */
    /* HTTP client */
    char *basic_user;
    char *basic_password;
    char *basic_password_file;
    char *auth_type; /* default "Bearer" when credentials are set */
    char *auth_credentials;
    char *auth_credentials_file;
    char *tls_ca_file;
    char *tls_cert_file;
    char *tls_key_file;
    char *tls_server_name;
    bool tls_insecure_skip_verify;
    bool follow_redirects; /* default true */
    char *proxy_url;
};

/* Allocates a config with Prometheus' defaults and one reference. */
tw_scrape_config_t *tw_scrape_config_alloc(void);

/* ---- targets ----------------------------------------------------------------------------- */

/* A target after relabeling. All strings owned (one allocation per array, see lset helpers). */
typedef struct tw_scrape_target {
    tw_label_t *labels; /* all labels after relabeling, meta labels removed, sorted */
    size_t nlabels;
    tw_label_t *discovered; /* before relabeling, sorted */
    size_t ndiscovered;
    char *url;
    int64_t interval_ms; /* from __scrape_interval__ */
    int64_t timeout_ms;  /* from __scrape_timeout__ */
    uint64_t hash;       /* FNV-64a of labels hash + URL, as Target.hash() */
} tw_scrape_target_t;

/*
 * Builds a target from a discovered label set the way Prometheus' PopulateLabels does. Returns 1
 * with *out filled, 0 when relabeling dropped it (*out untouched), or TW_EINVAL with err for an
 * invalid target (no address, bad scheme, bad interval...).
 */
int tw_scrape_target_build(const tw_scrape_config_t *cfg, const tw_label_t *disc, size_t ndisc,
                           tw_scrape_target_t *out, tw_error_t *err);
void tw_scrape_target_fini(tw_scrape_target_t *t);
/* The labels given to every sample: labels without a "__" prefix. Fills out (cap >= nlabels). */
size_t tw_scrape_target_public_labels(const tw_scrape_target_t *t, tw_label_t *out);

/*
 * Prometheus' Target.offset(): when, in (0, interval], relative to now, the target's first
 * scrape falls, so that every target is scraped at the same phase of its interval each time:
 *   base = interval - now % interval; off = (hash ^ seed) % interval; next = base + off,
 *   minus interval if above it. Times in ms (Prometheus uses ns; the phase is the same).
 */
int64_t tw_scrape_target_offset_ms(uint64_t target_hash, uint64_t seed, int64_t interval_ms,
                                   int64_t now_ms);
/* The jitter seed: FNV-64a of text. */
uint64_t tw_scrape_jitter_seed(const char *text);

/* Copies a label array into one allocation (array + strings), sorted. Free with free(). */
tw_label_t *tw_scrape_labels_dup(const tw_label_t *l, size_t n);

/* ---- file_sd --------------------------------------------------------------------------------- */

/*
 * Parses a file_sd file's bytes (JSON when json is true, else YAML) into target groups, adding
 * __meta_filepath = path to each group's labels. Errors name path (and line:col for YAML).
 * Free with tw_scrape_groups_free().
 */
int tw_scrape_file_sd_parse(const char *data, size_t len, bool json, const char *path,
                            tw_scrape_group_t **out, size_t *n, tw_error_t *err);
void tw_scrape_groups_free(tw_scrape_group_t *g, size_t n);
/* Parses one target-group list from a YAML sequence (static_configs and YAML file_sd). */
int tw_scrape_groups_from_yaml(tw_yaml_walk_t *w, const tw_yaml_node_t *seq, const char *section,
                               tw_scrape_group_t **out, size_t *n);

/* ---- kubernetes_sd ------------------------------------------------------------------------ */

/*
 * The target group of one Kubernetes object, exactly as Prometheus' discovery/kubernetes builds
 * it (Prometheus 3.5: node.go, pod.go, endpoints.go; see docs/scraping.md). Pure. Return 1 with
 * *out filled (free with tw_scrape_groups_free(out, 1)), or 0 when the object yields no group
 * (a node without an address, a pod without an IP: *out zeroed).
 */
int tw_scrape_kube_node_group(const json_t *node, tw_scrape_group_t *out);
int tw_scrape_kube_pod_group(const json_t *pod, tw_scrape_group_t *out);
/* svc: the Service of the same namespace and name, or NULL; pod_lookup finds a Pod a targetRef
 * names (NULL: none). */
int tw_scrape_kube_endpoints_group(const json_t *eps, const json_t *svc,
                                   const json_t *(*pod_lookup)(void *ctx, const char *ns,
                                                               const char *name),
                                   void *ctx, tw_scrape_group_t *out);

/* The watches of one kubernetes_sd_configs item. */
typedef struct tw_scrape_kube_sd_run tw_scrape_kube_sd_run_t;

/*
 * Starts the watches of cfg (borrowed: must outlive the run) for job. After every change a
 * watch thread calls wake(ctx); failures it recovers from go to on_error(ctx, job, msg) (may be
 * NULL), both from the watch threads. Returns TW_E* when the API server configuration cannot be
 * loaded (in-cluster config outside a cluster, an unreadable kubeconfig).
 */
int tw_scrape_kube_sd_start(const tw_scrape_kube_sd_t *cfg, const char *job,
                            void (*wake)(void *ctx), void *ctx,
                            void (*on_error)(void *ctx, const char *job, const char *msg),
                            tw_scrape_kube_sd_run_t **out, tw_error_t *err);
/* Stops the watches (within about a second) and frees the run. NULL is a no-op. */
void tw_scrape_kube_sd_stop(tw_scrape_kube_sd_run_t *r);
/* A counter that changes whenever the watched objects do. Thread-safe. */
uint64_t tw_scrape_kube_sd_generation(const tw_scrape_kube_sd_run_t *r);
/* The current target groups (free with tw_scrape_groups_free()). Thread-safe. */
int tw_scrape_kube_sd_groups(tw_scrape_kube_sd_run_t *r, tw_scrape_group_t **out, size_t *n);

/* ---- string-keyed hash table ------------------------------------------------------------- */

typedef struct tw_scrape_ht_entry {
    char *key; /* owned, NUL-terminated (may contain NULs before klen) */
    size_t klen;
    uint64_t hash;
    void *val; /* owned by the caller */
} tw_scrape_ht_entry_t;

typedef struct tw_scrape_ht {
    tw_scrape_ht_entry_t *slots;
    size_t cap; /* power of two or 0 */
    size_t n;
} tw_scrape_ht_t;

void tw_scrape_ht_init(tw_scrape_ht_t *h);
/* Frees keys (and values with free_val when not NULL). */
void tw_scrape_ht_fini(tw_scrape_ht_t *h, void (*free_val)(void *));
/* Finds key; NULL when absent. */
tw_scrape_ht_entry_t *tw_scrape_ht_get(const tw_scrape_ht_t *h, const char *key, size_t klen);
/* Inserts key (copied) if absent; returns its entry and sets *created. */
tw_scrape_ht_entry_t *tw_scrape_ht_put(tw_scrape_ht_t *h, const char *key, size_t klen,
                                       bool *created);

/* ---- label set encoding (keys of the cache and staleness sets) ---------------------------- */

/* Appends sorted labels as "name\0value\0..." to b. */
void tw_scrape_lset_encode(const tw_label_t *l, size_t n, tw_buf_t *b);
/* Decodes an encoded set into out (cap entries); returns the count. Points into key. */
size_t tw_scrape_lset_decode(const char *key, size_t klen, tw_label_t *out, size_t cap);

/* ---- the append state of one target (pure: sink and time are parameters) -------------------- */

typedef struct tw_scrape_state {
    tw_scrape_ht_t cache; /* raw series key -> encoded final labels (NULL: dropped) */
    tw_scrape_ht_t prev;  /* encoded labels of the previous successful scrape */
    tw_scrape_ht_t cur;   /* being built by this scrape */
    tw_arena_t *arena;    /* per-scrape */
    bool reported;        /* the report series were appended at least once */
    uint64_t iter;        /* scrapes so far; stamps cache entries */
} tw_scrape_state_t;

void tw_scrape_state_init(tw_scrape_state_t *s);
void tw_scrape_state_fini(tw_scrape_state_t *s);
/* Forgets the series cache (after a config change); keeps the staleness sets. */
void tw_scrape_state_reset_cache(tw_scrape_state_t *s);

/* What one scrape saw: the inputs of the report series. */
typedef struct tw_scrape_result {
    size_t total;        /* samples in the body */
    size_t added;        /* samples after metric relabeling */
    size_t series_added; /* new series */
    bool sample_limit_exceeded;
    bool label_limits_exceeded;
    size_t out_of_order, duplicates, out_of_bounds;
} tw_scrape_result_t;

/* What the appender needs to know about the target. */
typedef struct tw_scrape_append_ctx {
    const tw_scrape_config_t *cfg;
    const tw_label_t *target_labels; /* public target labels, sorted */
    size_t ntarget_labels;
} tw_scrape_append_ctx_t;

/*
 * Appends one scrape the way Prometheus' scrapeAndReport does, in one transaction of sink:
 * body (may be NULL/empty for a failed scrape) parsed as content_type says, samples relabeled,
 * limits checked, stale markers for series of the previous scrape that are missing, and the five
 * report series at t_ms with duration_s and health (scrape_err: the transport error or NULL).
 * A parse, limit or storage error fails the scrape: its samples are rolled back and a second
 * transaction writes the stale markers and the report with up=0. *last_error receives the
 * reason ("" on success; static or in *errbuf). Returns 0, or the sink's error if even the
 * report could not be committed.
 */
int tw_scrape_append(tw_scrape_state_t *s, const tw_scrape_append_ctx_t *ctx, const tw_sink_t *sink,
                     const char *body, size_t len, const char *content_type, const char *scrape_err,
                     int64_t t_ms, double duration_s, tw_scrape_result_t *res, char *errbuf,
                     size_t errsz);

/*
 * Appends end-of-run stale markers (all series of the last scrape plus the report series) at
 * t_ms, as endOfRunStaleness does; out-of-order and duplicate rejections are ignored.
 */
int tw_scrape_append_end_of_run(tw_scrape_state_t *s, const tw_scrape_append_ctx_t *ctx,
                                const tw_sink_t *sink, int64_t t_ms);

/* Formats seconds the way Go's strconv.FormatFloat(v, 'f', -1, 64) does for ms/1000 values. */
const char *tw_scrape_format_seconds(int64_t ms, char *out, size_t outsz);

#endif
