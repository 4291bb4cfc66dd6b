/* SPDX-License-Identifier: Apache-2.0 */
/*
 * scrape_manager.c - the scrape manager: one thread, one libcurl multi handle, every target.
 *
 * How it works: the manager holds scrape pools (one per job) and each pool holds loops (one per
 * target). The thread sleeps in curl_multi_poll() until the earliest of: a loop's next scrape,
 * a file_sd poll, an end-of-run deadline, a transfer event, or a wakeup from apply()/stop().
 * When a loop is due it gets an easy handle with the headers Prometheus sends (Accept,
 * X-Prometheus-Scrape-Timeout-Seconds, Accept-Encoding: gzip, auth) and a body buffer bounded by
 * body_size_limit; when the transfer completes, the body goes through tw_scrape_append() (parse,
 * relabel, limits, staleness, report series) in one sink transaction. Loops are scheduled like
 * Prometheus' ticker: first at now + Target.offset() (a hash of the target xor the jitter seed,
 * so every target keeps a fixed phase in its interval), then every interval; missed ticks are
 * skipped, and a scrape still running when the next tick comes delays nothing else.
 *
 * apply() hands new configs to the thread and waits until they are in force. A pool re-derives
 * its targets from static_configs and file_sd; targets are matched by hash (labels + URL):
 * matching loops keep running with the new config, new ones start, removed ones enter the
 * end-of-run sequence: at their next tick the stale time is taken, one more interval plus 10 %
 * later the stale markers are written (endOfRunStaleness). stop() abandons everything without
 * stale markers, as Prometheus does on shutdown.
 *
 * file_sd files are polled (mtime, size, inode) every file_sd_poll_ms and fully re-read every
 * refresh_interval; a file that fails to read or parse keeps its previous targets.
 * kubernetes_sd_configs run their own watch threads (scrape_kube_sd.c), started and stopped with
 * their pool's config; a change bumps a generation counter and wakes this thread
 * (curl_multi_wakeup), which then re-derives the pool's targets from a fresh snapshot.
 *
 * Thread model: mu guards everything; the scrape thread holds it except while waiting in
 * curl_multi_poll(), so the public functions can be called from any thread.
 */
#include "scrape_int.h"

#include <curl/curl.h>
#include <glob.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/log.h"
#include "common/mem.h"
#include "common/timeutil.h"

#define HARD_BODY_LIMIT (1024UL * 1024 * 1024) /* when body_size_limit is 0 */
#define FILE_SD_MAX_BYTES (64UL * 1024 * 1024)

typedef struct sd_file {
    char *path;
    int64_t mtime_ns;
    int64_t size;
    uint64_t ino;
    tw_scrape_group_t *groups;
    size_t ngroups;
    bool seen; /* matched by the last glob */
} sd_file_t;

typedef struct sd_watch {
    const tw_scrape_file_sd_t *cfg; /* borrowed from the pool's config */
    sd_file_t *files;
    size_t nfiles;
    int64_t next_refresh_ms;
    int64_t next_poll_ms;
} sd_watch_t;

struct pool;

typedef struct loop {
    struct pool *pool;
    tw_scrape_config_t *cfg; /* one reference */
    tw_scrape_target_t t;
    tw_label_t *pub; /* public target labels (point into t.labels) */
    size_t npub;
    tw_scrape_state_t st;
    int64_t next_ms;
    int64_t last_start_ms; /* 0: never started */
    /* the transfer in flight */
    CURL *easy;
    struct curl_slist *hdrs;
    tw_buf_t body;
    bool body_limit_hit;
    char content_type[128];
    char status_line[128];
    int64_t start_ms;
    int64_t start_mono_ns;
    char errbuf[CURL_ERROR_SIZE];
    char *password; /* read from password_file for this request */
    /* status for targets() */
    tw_scrape_health_t health;
    char last_error[512];
    int64_t last_scrape_ms;
    double last_duration_s;
    /* end of run */
    int end_phase; /* 0 running, 1 waiting for the stale tick, 2 waiting to write */
    int64_t stale_ms;
    int64_t end_at_ms;
} loop_t;

typedef struct pool {
    tw_scrape_config_t *cfg;
    loop_t **loops;
    size_t nloops;
    sd_watch_t *sd;
    size_t nsd;
    tw_scrape_kube_sd_run_t **kube; /* one per kubernetes_sd_configs item (NULL: failed) */
    uint64_t *kube_gen;             /* the generation the last sync saw */
    size_t nkube;
    double sync_sum_s;
    uint64_t sync_count;
} pool_t;

typedef struct interval_stat {
    int64_t interval_ms;
    double sum_s;
    uint64_t count;
} interval_stat_t;

struct tw_scrape_manager {
    const tw_sink_t *sink;
    char *user_agent;
    uint64_t seed;
    int64_t file_sd_poll_ms;
    pthread_t thread;
    bool thread_started;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    CURLM *multi;
    bool stop;
    pool_t **pools;
    size_t npools;
    loop_t **ending;
    size_t nending, ending_cap;
    /* pending apply */
    tw_scrape_config_t **pending;
    size_t npending;
    uint64_t apply_seq, applied_seq;
    /* counters */
    interval_stat_t *intervals;
    size_t nintervals;
    uint64_t exceeded_sample_limit, exceeded_label_limits, exceeded_body_size, out_of_order,
        duplicates, out_of_bounds, sd_read_errors, scrapes_ok, scrapes_failed;
};

/* ---- loops ----------------------------------------------------------------------------------- */

static loop_t *loop_new(pool_t *p, tw_scrape_target_t *t, int64_t now_ms, uint64_t seed)
{
    loop_t *l = tw_xcalloc(1, sizeof(*l));
    l->pool = p;
    l->cfg = tw_scrape_config_ref(p->cfg);
    l->t = *t;
    memset(t, 0, sizeof(*t));
    l->pub = tw_xcalloc(l->t.nlabels + 1, sizeof(tw_label_t));
    l->npub = tw_scrape_target_public_labels(&l->t, l->pub);
    tw_scrape_state_init(&l->st);
    l->next_ms = now_ms + tw_scrape_target_offset_ms(l->t.hash, seed, l->t.interval_ms, now_ms);
    tw_buf_init(&l->body, 0);
    return l;
}

static void loop_abort(tw_scrape_manager_t *m, loop_t *l)
{
    if (l->easy != NULL) {
        curl_multi_remove_handle(m->multi, l->easy);
        curl_easy_cleanup(l->easy);
        l->easy = NULL;
    }
    curl_slist_free_all(l->hdrs);
    l->hdrs = NULL;
    free(l->password);
    l->password = NULL;
}

static void loop_free(tw_scrape_manager_t *m, loop_t *l)
{
    if (l == NULL) {
        return;
    }
    loop_abort(m, l);
    tw_buf_fini(&l->body);
    tw_scrape_state_fini(&l->st);
    tw_scrape_target_fini(&l->t);
    free(l->pub);
    tw_scrape_config_unref(l->cfg);
    free(l);
}

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *ud)
{
    loop_t *l = ud;
    size_t n = size * nmemb;
    if (tw_buf_append(&l->body, ptr, n) != 0) {
        l->body_limit_hit = true;
        return 0; /* aborts the transfer */
    }
    return n;
}

static size_t on_header(char *ptr, size_t size, size_t nmemb, void *ud)
{
    loop_t *l = ud;
    size_t n = size * nmemb;
    size_t len = n;
    while (len > 0 && (ptr[len - 1] == '\r' || ptr[len - 1] == '\n')) {
        len--;
    }
    if (len > 5 && strncmp(ptr, "HTTP/", 5) == 0) {
        /* A new response (after a redirect or 100-continue): reset what we captured. */
        l->content_type[0] = '\0';
        const char *sp = memchr(ptr, ' ', len);
        size_t off = sp != NULL ? (size_t)(sp + 1 - ptr) : len;
        snprintf(l->status_line, sizeof(l->status_line), "%.*s", (int)(len - off), ptr + off);
    } else if (len > 13 && strncasecmp(ptr, "content-type:", 13) == 0) {
        size_t off = 13;
        while (off < len && (ptr[off] == ' ' || ptr[off] == '\t')) {
            off++;
        }
        snprintf(l->content_type, sizeof(l->content_type), "%.*s", (int)(len - off), ptr + off);
    }
    return n;
}

/* Reads a secret file's first line-trimmed content (Prometheus trims surrounding spaces). */
static char *read_secret(const char *path, char *errbuf, size_t errsz)
{
    tw_buf_t b;
    tw_error_t err;
    tw_buf_init(&b, 1024 * 1024);
    if (tw_buf_read_file(&b, path, &err) != 0) {
        snprintf(errbuf, errsz, "unable to read secret file %.100s: %.100s", path, err.msg);
        tw_buf_fini(&b);
        return NULL;
    }
    char *s = tw_buf_steal(&b, NULL);
    char *start = s;
    while (*start == ' ' || *start == '\t' || *start == '\n' || *start == '\r') {
        start++;
    }
    size_t len = strlen(start);
    while (len > 0 && (start[len - 1] == ' ' || start[len - 1] == '\t' || start[len - 1] == '\n' ||
                       start[len - 1] == '\r')) {
        len--;
    }
    char *out = tw_xstrndup(start, len);
    free(s);
    return out;
}

/* Starts a scrape. On a setup error returns false with l->errbuf filled. */
static bool loop_start(tw_scrape_manager_t *m, loop_t *l, int64_t now_ms)
{
    const tw_scrape_config_t *c = l->cfg;
    char hdr[1024], secs[32];
    l->errbuf[0] = '\0';
    l->content_type[0] = '\0';
    l->status_line[0] = '\0';
    l->body_limit_hit = false;
    tw_buf_fini(&l->body);
    tw_buf_init(&l->body, c->body_size_limit > 0 ? c->body_size_limit : HARD_BODY_LIMIT);
    l->start_ms = now_ms;
    l->start_mono_ns = tw_mono_ns();
    CURL *e = curl_easy_init();
    if (e == NULL) {
        snprintf(l->errbuf, sizeof(l->errbuf), "cannot create a curl handle");
        return false;
    }
    l->easy = e;
    curl_easy_setopt(e, CURLOPT_URL, l->t.url);
    curl_easy_setopt(e, CURLOPT_PRIVATE, l);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, l);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, l);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, l->errbuf);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)l->t.timeout_ms);
    curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "gzip");
    curl_easy_setopt(e, CURLOPT_USERAGENT, m->user_agent);
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, c->follow_redirects ? 1L : 0L);
    curl_easy_setopt(e, CURLOPT_MAXREDIRS, 10L);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    if (c->proxy_url != NULL) {
        curl_easy_setopt(e, CURLOPT_PROXY, c->proxy_url);
    } else {
        curl_easy_setopt(e, CURLOPT_PROXY, "");
    }
    l->hdrs = curl_slist_append(l->hdrs, "Accept: " TW_SCRAPE_ACCEPT_HEADER);
    snprintf(hdr, sizeof(hdr), "X-Prometheus-Scrape-Timeout-Seconds: %s",
             tw_scrape_format_seconds(l->t.timeout_ms, secs, sizeof(secs)));
    l->hdrs = curl_slist_append(l->hdrs, hdr);
    if (c->basic_user != NULL) {
        const char *pw = c->basic_password != NULL ? c->basic_password : "";
        if (c->basic_password_file != NULL) {
            l->password = read_secret(c->basic_password_file, l->errbuf, sizeof(l->errbuf));
            if (l->password == NULL) {
                return false;
            }
            pw = l->password;
        }
        curl_easy_setopt(e, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
        curl_easy_setopt(e, CURLOPT_USERNAME, c->basic_user);
        curl_easy_setopt(e, CURLOPT_PASSWORD, pw);
    }
    if (c->auth_type != NULL) {
        char *cred = NULL;
        if (c->auth_credentials_file != NULL) {
            cred = read_secret(c->auth_credentials_file, l->errbuf, sizeof(l->errbuf));
            if (cred == NULL) {
                return false;
            }
        }
        const char *cv =
            cred != NULL ? cred : (c->auth_credentials != NULL ? c->auth_credentials : "");
        snprintf(hdr, sizeof(hdr), "Authorization: %s %s", c->auth_type, cv);
        l->hdrs = curl_slist_append(l->hdrs, hdr);
        explicit_bzero(hdr, sizeof(hdr));
        free(cred);
    }
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, l->hdrs);
    if (c->tls_ca_file != NULL) {
        curl_easy_setopt(e, CURLOPT_CAINFO, c->tls_ca_file);
    }
    if (c->tls_cert_file != NULL) {
        curl_easy_setopt(e, CURLOPT_SSLCERT, c->tls_cert_file);
        curl_easy_setopt(e, CURLOPT_SSLKEY, c->tls_key_file);
    }
    if (c->tls_insecure_skip_verify) {
        curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L);
    }
    if (curl_multi_add_handle(m->multi, e) != CURLM_OK) {
        snprintf(l->errbuf, sizeof(l->errbuf), "cannot start the transfer");
        return false;
    }
    return true;
}

static void record_interval(tw_scrape_manager_t *m, int64_t interval_ms, double s)
{
    for (size_t i = 0; i < m->nintervals; i++) {
        if (m->intervals[i].interval_ms == interval_ms) {
            m->intervals[i].sum_s += s;
            m->intervals[i].count++;
            return;
        }
    }
    m->intervals = tw_xrealloc(m->intervals, (m->nintervals + 1) * sizeof(*m->intervals));
    m->intervals[m->nintervals++] = (interval_stat_t){interval_ms, s, 1};
}

/* A finished (or failed to start) transfer: append and report. */
static void loop_finish(tw_scrape_manager_t *m, loop_t *l, CURLcode cc)
{
    char scrape_err[600];
    const char *serr = NULL;
    long code = 0;
    if (l->easy != NULL && cc == CURLE_OK) {
        curl_easy_getinfo(l->easy, CURLINFO_RESPONSE_CODE, &code);
    }
    if (l->errbuf[0] != '\0' && l->easy == NULL) {
        snprintf(scrape_err, sizeof(scrape_err), "%s", l->errbuf);
        serr = scrape_err;
    } else if (l->body_limit_hit) {
        snprintf(scrape_err, sizeof(scrape_err), "body size limit exceeded");
        serr = scrape_err;
        m->exceeded_body_size++;
    } else if (cc == CURLE_OPERATION_TIMEDOUT) {
        snprintf(scrape_err, sizeof(scrape_err), "Get \"%s\": context deadline exceeded", l->t.url);
        serr = scrape_err;
    } else if (cc != CURLE_OK) {
        snprintf(scrape_err, sizeof(scrape_err), "Get \"%s\": %s", l->t.url,
                 l->errbuf[0] != '\0' ? l->errbuf : curl_easy_strerror(cc));
        serr = scrape_err;
    } else if (code != 200) {
        snprintf(scrape_err, sizeof(scrape_err), "server returned HTTP status %s",
                 l->status_line[0] != '\0' ? l->status_line : "unknown");
        serr = scrape_err;
    }
    double dur = (double)(tw_mono_ns() - l->start_mono_ns) / 1e9;
    tw_scrape_append_ctx_t ctx = {l->cfg, l->pub, l->npub};
    tw_scrape_result_t res;
    char errbuf[512];
    int rc = tw_scrape_append(&l->st, &ctx, m->sink, serr == NULL ? l->body.data : NULL,
                              serr == NULL ? l->body.len : 0, l->content_type, serr, l->start_ms,
                              dur, &res, errbuf, sizeof(errbuf));
    loop_abort(m, l);
    tw_buf_fini(&l->body);
    tw_buf_init(&l->body, 0);
    m->out_of_order += res.out_of_order;
    m->duplicates += res.duplicates;
    m->out_of_bounds += res.out_of_bounds;
    if (res.sample_limit_exceeded) {
        m->exceeded_sample_limit++;
    }
    if (res.label_limits_exceeded) {
        m->exceeded_label_limits++;
    }
    l->last_scrape_ms = l->start_ms;
    l->last_duration_s = dur;
    bool ok = rc == 0 && errbuf[0] == '\0';
    l->health = ok ? TW_SCRAPE_HEALTH_UP : TW_SCRAPE_HEALTH_DOWN;
    snprintf(l->last_error, sizeof(l->last_error), "%s", errbuf);
    if (ok) {
        m->scrapes_ok++;
    } else {
        m->scrapes_failed++;
        if (tw_log_enabled(TW_LOG_DEBUG)) {
            tw_log(TW_LOG_DEBUG, "scrape", "scrape failed", "job", l->cfg->job_name, "target",
                   l->t.url, "err", errbuf, NULL);
        }
    }
    if (rc != 0 && errbuf[0] == '\0') {
        tw_log(TW_LOG_WARN, "scrape", "appending scrape failed", "job", l->cfg->job_name, "target",
               l->t.url, "err", tw_strerror(rc), NULL);
    }
}

/* ---- file_sd ------------------------------------------------------------------------------ */

static void sd_file_clear(sd_file_t *f)
{
    tw_scrape_groups_free(f->groups, f->ngroups);
    f->groups = NULL;
    f->ngroups = 0;
}

static void sd_watch_fini(sd_watch_t *w)
{
    for (size_t i = 0; i < w->nfiles; i++) {
        sd_file_clear(&w->files[i]);
        free(w->files[i].path);
    }
    free(w->files);
    memset(w, 0, sizeof(*w));
}

static bool ends_with(const char *s, const char *suf)
{
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && strcasecmp(s + a - b, suf) == 0;
}

/* Polls a watch; returns true when its target groups changed. */
static bool sd_watch_poll(tw_scrape_manager_t *m, const char *job, sd_watch_t *w, int64_t now_ms,
                          bool force)
{
    bool changed = false;
    bool full = force || now_ms >= w->next_refresh_ms;
    if (!full && now_ms < w->next_poll_ms) {
        return false;
    }
    w->next_poll_ms = now_ms + m->file_sd_poll_ms;
    if (full) {
        w->next_refresh_ms = now_ms + w->cfg->refresh_interval_ms;
    }
    for (size_t i = 0; i < w->nfiles; i++) {
        w->files[i].seen = false;
    }
    for (size_t p = 0; p < w->cfg->nfiles; p++) {
        glob_t g;
        memset(&g, 0, sizeof(g));
        if (glob(w->cfg->files[p], 0, NULL, &g) != 0) {
            globfree(&g);
            continue;
        }
        for (size_t k = 0; k < g.gl_pathc; k++) {
            const char *path = g.gl_pathv[k];
            sd_file_t *f = NULL;
            for (size_t i = 0; i < w->nfiles; i++) {
                if (strcmp(w->files[i].path, path) == 0) {
                    f = &w->files[i];
                }
            }
            if (f == NULL) {
                w->files = tw_xrealloc(w->files, (w->nfiles + 1) * sizeof(*w->files));
                f = &w->files[w->nfiles++];
                memset(f, 0, sizeof(*f));
                f->path = tw_xstrdup(path);
                f->mtime_ns = -1;
            }
            f->seen = true;
            struct stat sb;
            if (stat(path, &sb) != 0) {
                continue;
            }
            int64_t mt = (int64_t)sb.st_mtim.tv_sec * 1000000000 + sb.st_mtim.tv_nsec;
            if (!full && mt == f->mtime_ns && (int64_t)sb.st_size == f->size &&
                (uint64_t)sb.st_ino == f->ino) {
                continue;
            }
            f->mtime_ns = mt;
            f->size = (int64_t)sb.st_size;
            f->ino = (uint64_t)sb.st_ino;
            tw_buf_t b;
            tw_error_t err;
            tw_error_clear(&err);
            tw_buf_init(&b, FILE_SD_MAX_BYTES);
            int rc = tw_buf_read_file(&b, path, &err);
            tw_scrape_group_t *groups = NULL;
            size_t ng = 0;
            if (rc == 0) {
                rc = tw_scrape_file_sd_parse(b.data != NULL ? b.data : "", b.len,
                                             ends_with(path, ".json"), path, &groups, &ng, &err);
            }
            tw_buf_fini(&b);
            if (rc != 0) {
                char eb[800];
                m->sd_read_errors++;
                tw_log(TW_LOG_ERROR, "scrape", "Error reading file", "job", job, "path", path,
                       "err", tw_error_format(&err, eb, sizeof(eb)), NULL);
                continue; /* keep the previous groups */
            }
            sd_file_clear(f);
            f->groups = groups;
            f->ngroups = ng;
            changed = true;
        }
        globfree(&g);
    }
    for (size_t i = 0; i < w->nfiles;) {
        if (!w->files[i].seen) {
            sd_file_clear(&w->files[i]);
            free(w->files[i].path);
            w->files[i] = w->files[--w->nfiles];
            changed = true;
        } else {
            i++;
        }
    }
    return changed;
}

/* ---- pools ------------------------------------------------------------------------------ */

static void end_loop(tw_scrape_manager_t *m, loop_t *l, int64_t now_ms)
{
    loop_abort(m, l);
    if (l->last_start_ms == 0) {
        loop_free(m, l);
        return;
    }
    l->end_phase = 1;
    while (l->next_ms <= now_ms) {
        l->next_ms += l->t.interval_ms;
    }
    tw_grow((void **)&m->ending, &m->ending_cap, m->nending + 1, sizeof(*m->ending));
    m->ending[m->nending++] = l;
}

static void add_group_targets(tw_scrape_manager_t *m, pool_t *p, const tw_scrape_group_t *g,
                              tw_scrape_target_t **ts, size_t *nts, size_t *cap)
{
    tw_label_t *disc = NULL;
    size_t disc_cap = 0;
    for (size_t i = 0; i < g->ntargets; i++) {
        /* Target labels first, then the group's labels they do not override, then the address
         * (targetgroup.Group semantics). */
        const tw_label_t *tl = g->tlabels != NULL ? g->tlabels[i] : NULL;
        size_t ntl = g->tlabels != NULL ? g->ntlabels[i] : 0;
        tw_grow((void **)&disc, &disc_cap, g->nlabels + ntl + 1, sizeof(*disc));
        size_t nd = 0;
        for (size_t j = 0; j < ntl; j++) {
            disc[nd++] = tl[j];
        }
        for (size_t j = 0; j < g->nlabels; j++) {
            if (strcmp(g->labels[j].name, "__address__") != 0 &&
                tw_labels_get(tl, ntl, g->labels[j].name) == NULL) {
                disc[nd++] = g->labels[j];
            }
        }
        disc[nd++] = g->targets[i];
        tw_scrape_target_t t;
        tw_error_t err;
        tw_error_clear(&err);
        int rc = tw_scrape_target_build(p->cfg, disc, nd, &t, &err);
        if (rc < 0) {
            tw_log(TW_LOG_ERROR, "scrape", "Creating target failed", "job", p->cfg->job_name, "err",
                   err.msg, NULL);
            continue;
        }
        if (rc == 0) {
            continue;
        }
        bool dup = false;
        for (size_t k = 0; k < *nts; k++) {
            if ((*ts)[k].hash == t.hash && strcmp((*ts)[k].url, t.url) == 0) {
                dup = true;
            }
        }
        if (dup) {
            tw_scrape_target_fini(&t);
            continue;
        }
        tw_grow((void **)ts, cap, *nts + 1, sizeof(**ts));
        (*ts)[(*nts)++] = t;
    }
    free(disc);
    (void)m;
}

/* Derives the pool's targets and reconciles its loops. */
static void pool_sync(tw_scrape_manager_t *m, pool_t *p, int64_t now_ms)
{
    int64_t t0 = tw_mono_ns();
    tw_scrape_target_t *ts = NULL;
    size_t nts = 0, cap = 0;
    for (size_t i = 0; i < p->cfg->nstatic; i++) {
        add_group_targets(m, p, &p->cfg->static_groups[i], &ts, &nts, &cap);
    }
    for (size_t w = 0; w < p->nsd; w++) {
        for (size_t f = 0; f < p->sd[w].nfiles; f++) {
            for (size_t g = 0; g < p->sd[w].files[f].ngroups; g++) {
                add_group_targets(m, p, &p->sd[w].files[f].groups[g], &ts, &nts, &cap);
            }
        }
    }
    for (size_t k = 0; k < p->nkube; k++) {
        if (p->kube[k] == NULL) {
            continue;
        }
        tw_scrape_group_t *gs = NULL;
        size_t ng = 0;
        p->kube_gen[k] = tw_scrape_kube_sd_generation(p->kube[k]);
        tw_scrape_kube_sd_groups(p->kube[k], &gs, &ng);
        for (size_t g = 0; g < ng; g++) {
            add_group_targets(m, p, &gs[g], &ts, &nts, &cap);
        }
        tw_scrape_groups_free(gs, ng);
    }
    loop_t **nl = tw_xcalloc(nts + 1, sizeof(*nl));
    for (size_t i = 0; i < nts; i++) {
        for (size_t j = 0; j < p->nloops; j++) {
            loop_t *l = p->loops[j];
            if (l != NULL && l->t.hash == ts[i].hash && strcmp(l->t.url, ts[i].url) == 0) {
                nl[i] = l;
                p->loops[j] = NULL;
                if (l->cfg != p->cfg) {
                    tw_scrape_config_unref(l->cfg);
                    l->cfg = tw_scrape_config_ref(p->cfg);
                    tw_scrape_state_reset_cache(&l->st);
                    /* discovered labels may differ (e.g. a meta label) */
                    free(l->t.discovered);
                    l->t.discovered = ts[i].discovered;
                    l->t.ndiscovered = ts[i].ndiscovered;
                    ts[i].discovered = NULL;
                }
                tw_scrape_target_fini(&ts[i]);
                break;
            }
        }
        if (nl[i] == NULL) {
            nl[i] = loop_new(p, &ts[i], now_ms, m->seed);
        }
    }
    for (size_t j = 0; j < p->nloops; j++) {
        if (p->loops[j] != NULL) {
            end_loop(m, p->loops[j], now_ms);
        }
    }
    free(p->loops);
    free(ts);
    p->loops = nl;
    p->nloops = nts;
    p->sync_sum_s += (double)(tw_mono_ns() - t0) / 1e9;
    p->sync_count++;
}

static void kube_wake(void *ctx)
{
    tw_scrape_manager_t *m = ctx;
    curl_multi_wakeup(m->multi);
}

static void kube_error(void *ctx, const char *job, const char *msg)
{
    (void)ctx;
    tw_log(TW_LOG_WARN, "scrape", "Kubernetes watch failed; retrying", "discovery", "kubernetes",
           "job", job, "err", msg, NULL);
}

static void pool_kube_stop(pool_t *p)
{
    /* Flag every run first so that their threads wind down together. */
    for (size_t i = 0; i < p->nkube; i++) {
        tw_scrape_kube_sd_stop(p->kube[i]);
    }
    free(p->kube);
    free(p->kube_gen);
    p->kube = NULL;
    p->kube_gen = NULL;
    p->nkube = 0;
}

static void pool_kube_start(tw_scrape_manager_t *m, pool_t *p, tw_scrape_config_t *cfg)
{
    p->nkube = cfg->nkube_sd;
    p->kube = tw_xcalloc(p->nkube + 1, sizeof(*p->kube));
    p->kube_gen = tw_xcalloc(p->nkube + 1, sizeof(*p->kube_gen));
    for (size_t i = 0; i < p->nkube; i++) {
        tw_error_t err;
        tw_error_clear(&err);
        if (tw_scrape_kube_sd_start(&cfg->kube_sd[i], cfg->job_name, kube_wake, m, kube_error,
                                    &p->kube[i], &err) != 0) {
            tw_log(TW_LOG_ERROR, "scrape", "Cannot create service discovery", "discovery",
                   "kubernetes", "job", cfg->job_name, "err", err.msg, NULL);
            p->kube[i] = NULL;
        }
    }
}

static void pool_set_config(tw_scrape_manager_t *m, pool_t *p, tw_scrape_config_t *cfg,
                            int64_t now_ms)
{
    for (size_t i = 0; i < p->nsd; i++) {
        sd_watch_fini(&p->sd[i]);
    }
    free(p->sd);
    /* The runs borrow their settings from the old config: stop them before dropping it. */
    pool_kube_stop(p);
    tw_scrape_config_unref(p->cfg);
    p->cfg = tw_scrape_config_ref(cfg);
    p->nsd = cfg->nfile_sd;
    p->sd = tw_xcalloc(p->nsd + 1, sizeof(*p->sd));
    for (size_t i = 0; i < p->nsd; i++) {
        p->sd[i].cfg = &cfg->file_sd[i];
        sd_watch_poll(m, cfg->job_name, &p->sd[i], now_ms, true);
    }
    pool_kube_start(m, p, cfg);
    pool_sync(m, p, now_ms);
}

static void pool_free(tw_scrape_manager_t *m, pool_t *p, bool end, int64_t now_ms)
{
    for (size_t i = 0; i < p->nloops; i++) {
        if (end) {
            end_loop(m, p->loops[i], now_ms);
        } else {
            loop_free(m, p->loops[i]);
        }
    }
    free(p->loops);
    for (size_t i = 0; i < p->nsd; i++) {
        sd_watch_fini(&p->sd[i]);
    }
    free(p->sd);
    pool_kube_stop(p);
    tw_scrape_config_unref(p->cfg);
    free(p);
}

static void do_apply(tw_scrape_manager_t *m, int64_t now_ms)
{
    pool_t **np = tw_xcalloc(m->npending + 1, sizeof(*np));
    for (size_t i = 0; i < m->npending; i++) {
        tw_scrape_config_t *c = m->pending[i];
        for (size_t j = 0; j < m->npools; j++) {
            if (m->pools[j] != NULL && strcmp(m->pools[j]->cfg->job_name, c->job_name) == 0) {
                np[i] = m->pools[j];
                m->pools[j] = NULL;
            }
        }
        if (np[i] == NULL) {
            np[i] = tw_xcalloc(1, sizeof(pool_t));
        }
        /* Loops point at their pool; keep them pointing at the right one. */
        pool_set_config(m, np[i], c, now_ms);
        for (size_t k = 0; k < np[i]->nloops; k++) {
            np[i]->loops[k]->pool = np[i];
        }
    }
    for (size_t j = 0; j < m->npools; j++) {
        if (m->pools[j] != NULL) {
            pool_free(m, m->pools[j], true, now_ms);
        }
    }
    free(m->pools);
    m->pools = np;
    m->npools = m->npending;
    tw_scrape_configs_free(m->pending, m->npending);
    m->pending = NULL;
    m->npending = 0;
}

/* ---- the thread --------------------------------------------------------------------------- */

static int64_t min64(int64_t a, int64_t b)
{
    return a < b ? a : b;
}

/* Runs what is due; returns the next deadline. Called with mu held. */
static int64_t run_due(tw_scrape_manager_t *m, int64_t now_ms)
{
    int64_t next = now_ms + 1000;
    for (size_t i = 0; i < m->npools; i++) {
        pool_t *p = m->pools[i];
        bool changed = false;
        for (size_t w = 0; w < p->nsd; w++) {
            changed |= sd_watch_poll(m, p->cfg->job_name, &p->sd[w], now_ms, false);
            next = min64(next, min64(p->sd[w].next_poll_ms, p->sd[w].next_refresh_ms));
        }
        for (size_t k = 0; k < p->nkube; k++) {
            changed |=
                p->kube[k] != NULL && tw_scrape_kube_sd_generation(p->kube[k]) != p->kube_gen[k];
        }
        if (changed) {
            pool_sync(m, p, now_ms);
        }
        for (size_t j = 0; j < p->nloops; j++) {
            loop_t *l = p->loops[j];
            if (l->easy == NULL && now_ms >= l->next_ms) {
                if (l->last_start_ms != 0) {
                    record_interval(m, l->t.interval_ms,
                                    (double)(now_ms - l->last_start_ms) / 1000.0);
                }
                l->last_start_ms = now_ms;
                while (l->next_ms <= now_ms) {
                    l->next_ms += l->t.interval_ms;
                }
                if (!loop_start(m, l, now_ms)) {
                    loop_abort(m, l);
                    l->easy = NULL;
                    loop_finish(m, l, CURLE_OK);
                }
            }
            if (l->easy == NULL) {
                next = min64(next, l->next_ms);
            }
        }
    }
    for (size_t i = 0; i < m->nending;) {
        loop_t *l = m->ending[i];
        if (l->end_phase == 1 && now_ms >= l->next_ms) {
            l->stale_ms = now_ms;
            l->end_phase = 2;
            l->end_at_ms = l->next_ms + l->t.interval_ms + l->t.interval_ms / 10;
        }
        if (l->end_phase == 2 && now_ms >= l->end_at_ms) {
            tw_scrape_append_ctx_t ctx = {l->cfg, l->pub, l->npub};
            int rc = tw_scrape_append_end_of_run(&l->st, &ctx, m->sink, l->stale_ms);
            if (rc != 0) {
                tw_log(TW_LOG_WARN, "scrape", "Stale append failed", "target", l->t.url, "err",
                       tw_strerror(rc), NULL);
            }
            loop_free(m, l);
            m->ending[i] = m->ending[--m->nending];
            continue;
        }
        next = min64(next, l->end_phase == 1 ? l->next_ms : l->end_at_ms);
        i++;
    }
    return next;
}

static void *scrape_thread(void *arg)
{
    tw_scrape_manager_t *m = arg;
    pthread_mutex_lock(&m->mu);
    while (!m->stop) {
        int64_t now = tw_now_ms();
        if (m->apply_seq != m->applied_seq) {
            do_apply(m, now);
            m->applied_seq = m->apply_seq;
            pthread_cond_broadcast(&m->cv);
        }
        int64_t next = run_due(m, now);
        pthread_mutex_unlock(&m->mu);
        int64_t wait = next - tw_now_ms();
        if (wait < 0) {
            wait = 0;
        }
        int running = 0;
        curl_multi_poll(m->multi, NULL, 0, (int)min64(wait, 1000), NULL);
        pthread_mutex_lock(&m->mu);
        curl_multi_perform(m->multi, &running);
        CURLMsg *msg;
        int left;
        while ((msg = curl_multi_info_read(m->multi, &left)) != NULL) {
            if (msg->msg != CURLMSG_DONE) {
                continue;
            }
            loop_t *l = NULL;
            curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&l);
            CURLcode cc = msg->data.result;
            if (l != NULL) {
                loop_finish(m, l, cc);
            }
        }
    }
    pthread_mutex_unlock(&m->mu);
    return NULL;
}

/* ---- public API ------------------------------------------------------------------------- */

tw_scrape_manager_t *tw_scrape_manager_new(const tw_sink_t *sink,
                                           const tw_scrape_manager_options_t *opts, tw_error_t *err)
{
    tw_scrape_manager_t *m = tw_xcalloc(1, sizeof(*m));
    m->sink = sink;
    m->user_agent =
        tw_xstrdup(opts != NULL && opts->user_agent != NULL ? opts->user_agent : "tidewatch");
    m->seed = tw_scrape_jitter_seed(opts != NULL ? opts->jitter_seed : NULL);
    m->file_sd_poll_ms = opts != NULL && opts->file_sd_poll_ms > 0 ? opts->file_sd_poll_ms : 5000;
    pthread_mutex_init(&m->mu, NULL);
    pthread_cond_init(&m->cv, NULL);
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        tw_error_set(err, TW_EIO, "scrape: curl_global_init failed");
        goto fail;
    }
    m->multi = curl_multi_init();
    if (m->multi == NULL) {
        tw_error_set(err, TW_EIO, "scrape: cannot create a curl multi handle");
        goto fail;
    }
    if (pthread_create(&m->thread, NULL, scrape_thread, m) != 0) {
        tw_error_set(err, TW_EIO, "scrape: cannot start the scrape thread");
        goto fail;
    }
    m->thread_started = true;
    return m;
fail:
    tw_scrape_manager_free(m);
    return NULL;
}

int tw_scrape_manager_apply(tw_scrape_manager_t *m, tw_scrape_config_t *const *cfgs, size_t n,
                            tw_error_t *err)
{
    pthread_mutex_lock(&m->mu);
    if (m->stop) {
        pthread_mutex_unlock(&m->mu);
        return tw_error_set(err, TW_ESTATE, "scrape: the manager is stopped");
    }
    tw_scrape_configs_free(m->pending, m->npending);
    m->pending = tw_xcalloc(n + 1, sizeof(*m->pending));
    for (size_t i = 0; i < n; i++) {
        m->pending[i] = tw_scrape_config_ref(cfgs[i]);
    }
    m->npending = n;
    uint64_t seq = ++m->apply_seq;
    curl_multi_wakeup(m->multi);
    while (m->applied_seq < seq && !m->stop) {
        pthread_cond_wait(&m->cv, &m->mu);
    }
    pthread_mutex_unlock(&m->mu);
    return 0;
}

void tw_scrape_manager_stop(tw_scrape_manager_t *m)
{
    pthread_mutex_lock(&m->mu);
    m->stop = true;
    pthread_cond_broadcast(&m->cv);
    if (m->multi != NULL) {
        curl_multi_wakeup(m->multi);
    }
    pthread_mutex_unlock(&m->mu);
    if (m->thread_started) {
        pthread_join(m->thread, NULL);
        m->thread_started = false;
    }
}

void tw_scrape_manager_free(tw_scrape_manager_t *m)
{
    if (m == NULL) {
        return;
    }
    tw_scrape_manager_stop(m);
    for (size_t i = 0; i < m->npools; i++) {
        pool_free(m, m->pools[i], false, 0);
    }
    free(m->pools);
    for (size_t i = 0; i < m->nending; i++) {
        loop_free(m, m->ending[i]);
    }
    free(m->ending);
    tw_scrape_configs_free(m->pending, m->npending);
    if (m->multi != NULL) {
        curl_multi_cleanup(m->multi);
    }
    free(m->intervals);
    free(m->user_agent);
    pthread_mutex_destroy(&m->mu);
    pthread_cond_destroy(&m->cv);
    free(m);
}

const char *tw_scrape_health_name(tw_scrape_health_t h)
{
    switch (h) {
    case TW_SCRAPE_HEALTH_UP:
        return "up";
    case TW_SCRAPE_HEALTH_DOWN:
        return "down";
    default:
        return "unknown";
    }
}

static void add_counter(tw_mset_t *out, const char *name, const char *help, uint64_t v)
{
    tw_mfamily_t *f = tw_mset_family(out, name, TW_MTYPE_COUNTER, help, NULL);
    tw_mset_add(out, f, "", NULL, 0, (double)v, TW_NO_TIMESTAMP);
}

void tw_scrape_manager_collect(tw_scrape_manager_t *m, tw_mset_t *out)
{
    pthread_mutex_lock(&m->mu);
    tw_mfamily_t *f =
        tw_mset_family(out, "tidewatch_scrape_target_interval_length_seconds", TW_MTYPE_SUMMARY,
                       "Actual intervals between scrapes.", "seconds");
    for (size_t i = 0; i < m->nintervals; i++) {
        char iv[32];
        tw_label_t l = {"interval",
                        tw_duration_format(m->intervals[i].interval_ms, iv, sizeof(iv))};
        tw_mset_add(out, f, "_sum", &l, 1, m->intervals[i].sum_s, TW_NO_TIMESTAMP);
        tw_mset_add(out, f, "_count", &l, 1, (double)m->intervals[i].count, TW_NO_TIMESTAMP);
    }
    f = tw_mset_family(out, "tidewatch_scrape_pool_targets", TW_MTYPE_GAUGE,
                       "Current number of targets in this scrape pool.", NULL);
    tw_mfamily_t *fs =
        tw_mset_family(out, "tidewatch_scrape_pool_sync_length_seconds", TW_MTYPE_SUMMARY,
                       "Actual interval to sync the scrape pool.", "seconds");
    for (size_t i = 0; i < m->npools; i++) {
        tw_label_t l = {"scrape_job", m->pools[i]->cfg->job_name};
        tw_mset_add(out, f, "", &l, 1, (double)m->pools[i]->nloops, TW_NO_TIMESTAMP);
        tw_mset_add(out, fs, "_sum", &l, 1, m->pools[i]->sync_sum_s, TW_NO_TIMESTAMP);
        tw_mset_add(out, fs, "_count", &l, 1, (double)m->pools[i]->sync_count, TW_NO_TIMESTAMP);
    }
    add_counter(out, "tidewatch_scrape_exceeded_sample_limit_total",
                "Total number of scrapes that hit the sample limit and were rejected.",
                m->exceeded_sample_limit);
    add_counter(out, "tidewatch_scrape_exceeded_label_limits_total",
                "Total number of scrapes that hit a label limit and were rejected.",
                m->exceeded_label_limits);
    add_counter(out, "tidewatch_scrape_exceeded_body_size_limit_total",
                "Total number of scrapes that hit the body size limit.", m->exceeded_body_size);
    add_counter(out, "tidewatch_scrape_sample_out_of_order_total",
                "Total number of samples rejected due to not being out of the expected order.",
                m->out_of_order);
    add_counter(out, "tidewatch_scrape_sample_duplicate_timestamp_total",
                "Total number of samples rejected due to duplicate timestamps but different "
                "values.",
                m->duplicates);
    add_counter(out, "tidewatch_scrape_sample_out_of_bounds_total",
                "Total number of samples rejected due to timestamp falling outside of the time "
                "bounds.",
                m->out_of_bounds);
    add_counter(out, "tidewatch_scrape_file_sd_read_errors_total",
                "The number of file_sd read errors.", m->sd_read_errors);
    f = tw_mset_family(out, "tidewatch_scrapes_total", TW_MTYPE_COUNTER, "Scrapes by result.",
                       NULL);
    tw_label_t ok = {"result", "success"}, bad = {"result", "failure"};
    tw_mset_add(out, f, "", &ok, 1, (double)m->scrapes_ok, TW_NO_TIMESTAMP);
    tw_mset_add(out, f, "", &bad, 1, (double)m->scrapes_failed, TW_NO_TIMESTAMP);
    pthread_mutex_unlock(&m->mu);
}

static tw_label_t *labels_copy(const tw_label_t *l, size_t n, bool public_only, size_t *nout)
{
    tw_label_t *tmp = tw_xcalloc(n + 1, sizeof(*tmp));
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (!public_only || strncmp(l[i].name, "__", 2) != 0) {
            tmp[k++] = l[i];
        }
    }
    tw_label_t *out = tw_scrape_labels_dup(tmp, k);
    free(tmp);
    *nout = k;
    return out;
}

static int info_cmp(const void *a, const void *b)
{
    const tw_scrape_target_info_t *x = a, *y = b;
    int c = strcmp(x->scrape_pool, y->scrape_pool);
    return c != 0 ? c : strcmp(x->scrape_url, y->scrape_url);
}

int tw_scrape_manager_targets(tw_scrape_manager_t *m, tw_scrape_target_info_t **out, size_t *n)
{
    pthread_mutex_lock(&m->mu);
    size_t total = 0;
    for (size_t i = 0; i < m->npools; i++) {
        total += m->pools[i]->nloops;
    }
    tw_scrape_target_info_t *v = tw_xcalloc(total + 1, sizeof(*v));
    size_t k = 0;
    for (size_t i = 0; i < m->npools; i++) {
        for (size_t j = 0; j < m->pools[i]->nloops; j++) {
            const loop_t *l = m->pools[i]->loops[j];
            tw_scrape_target_info_t *t = &v[k++];
            t->scrape_pool = tw_xstrdup(m->pools[i]->cfg->job_name);
            t->scrape_url = tw_xstrdup(l->t.url);
            t->global_url = tw_xstrdup(l->t.url);
            t->labels = labels_copy(l->t.labels, l->t.nlabels, true, &t->nlabels);
            t->discovered_labels =
                labels_copy(l->t.discovered, l->t.ndiscovered, false, &t->ndiscovered_labels);
            t->health = l->health;
            t->last_error = tw_xstrdup(l->last_error);
            t->last_scrape_ms = l->last_scrape_ms;
            t->last_scrape_duration_s = l->last_duration_s;
            t->scrape_interval_ms = l->t.interval_ms;
            t->scrape_timeout_ms = l->t.timeout_ms;
        }
    }
    pthread_mutex_unlock(&m->mu);
    qsort(v, k, sizeof(*v), info_cmp);
    *out = v;
    *n = k;
    return 0;
}

void tw_scrape_target_infos_free(tw_scrape_target_info_t *infos, size_t n)
{
    if (infos == NULL) {
        return;
    }
    for (size_t i = 0; i < n; i++) {
        free(infos[i].scrape_pool);
        free(infos[i].scrape_url);
        free(infos[i].global_url);
        free(infos[i].labels);
        free(infos[i].discovered_labels);
        free(infos[i].last_error);
    }
    free(infos);
}
