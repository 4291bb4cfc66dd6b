/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_remote_prometheus.c - end to end with a real Prometheus 2.42 (/usr/bin/prometheus): our
 * handler listens on 127.0.0.1:0 with a recording sink; Prometheus scrapes itself every second
 * and remote-writes to us; within ~30 s samples of `up` and `prometheus_build_info` (and
 * metadata) must arrive, every request must be answered 204, and every series must reach the
 * sink sorted and with __name__. Prometheus runs on its own loopback port with a temporary
 * storage path and is stopped by PID. Skipped (with a message) when Prometheus is not installed.
 */
#define _GNU_SOURCE /* nftw */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "collector/remote/remote.h"
#include "common/http_server.h"
#include "rw_fake_sink.h"

#define PROMETHEUS "/usr/bin/prometheus"

static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0};
    socklen_t alen = sizeof(a);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_true(fd >= 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &alen), 0);
    close(fd);
    return ntohs(a.sin_port);
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static double counter(tw_remote_write_handler_t *h, const char *name, const char *code)
{
    tw_mset_t *set = tw_mset_new();
    double v = -1;
    tw_remote_write_handler_collect(h, set);
    const tw_mfamily_t *f = tw_mset_find(set, name);
    for (size_t i = 0; f != NULL && i < f->nsamples; i++) {
        if (code == NULL || strcmp(f->samples[i].labels[0].value, code) == 0) {
            v = f->samples[i].value;
        }
    }
    tw_mset_free(set);
    return v;
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void dump_log(const char *path)
{
    FILE *f = fopen(path, "r");
    char line[1024];
    if (f == NULL) {
        return;
    }
    while (fgets(line, sizeof(line), f) != NULL) {
        fprintf(stderr, "  prometheus: %s", line);
    }
    fclose(f);
}

static void test_prometheus_remote_write(void **state)
{
    (void)state;
    if (access(PROMETHEUS, X_OK) != 0) {
        fprintf(stderr, "SKIP: %s not installed; the end-to-end remote_write test needs it\n",
                PROMETHEUS);
        skip();
    }
    rw_fake_sink_t fake;
    tw_sink_t sink;
    tw_error_t err;
    rw_fake_init(&fake, &sink);
    tw_http_server_options_t so = {.listen_address = "127.0.0.1:0", .threads = 2};
    tw_http_server_t *srv = tw_http_server_new(&so, &err);
    tw_remote_write_handler_t *h = NULL;
    assert_non_null(srv);
    assert_int_equal(tw_remote_write_handler_register(srv, NULL, &sink, &h), 0);
    if (tw_http_server_start(srv, &err) != 0) {
        fail_msg("%s", err.msg);
    }

    char dir[] = "/tmp/tw-rw-prom-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char cfg[256], data[256], logp[256], listen[64], cfgarg[300], dataarg[300], listenarg[128];
    snprintf(cfg, sizeof(cfg), "%s/prometheus.yml", dir);
    snprintf(data, sizeof(data), "%s/data", dir);
    snprintf(logp, sizeof(logp), "%s/prometheus.log", dir);
    int pport = free_port();
    snprintf(listen, sizeof(listen), "127.0.0.1:%d", pport);
    FILE *f = fopen(cfg, "w");
    assert_non_null(f);
    fprintf(f,
            "global:\n"
            "  scrape_interval: 1s\n"
            "  evaluation_interval: 1s\n"
            "scrape_configs:\n"
            "  - job_name: prometheus\n"
            "    static_configs:\n"
            "      - targets: ['%s']\n"
            "remote_write:\n"
            "  - url: http://127.0.0.1:%d/api/v1/write\n"
            "    queue_config:\n"
            "      batch_send_deadline: 1s\n"
            "      min_backoff: 100ms\n"
            "      max_backoff: 1s\n"
            "    metadata_config:\n"
            "      send: true\n"
            "      send_interval: 1s\n",
            listen, tw_http_server_port(srv));
    fclose(f);
    snprintf(cfgarg, sizeof(cfgarg), "--config.file=%s", cfg);
    snprintf(dataarg, sizeof(dataarg), "--storage.tsdb.path=%s", data);
    snprintf(listenarg, sizeof(listenarg), "--web.listen-address=%s", listen);

    int64_t start_ms = now_ms();
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int fd = open(logp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
        }
        execl(PROMETHEUS, PROMETHEUS, cfgarg, dataarg, listenarg, (char *)NULL);
        _exit(127);
    }

    char up[256], info[64];
    snprintf(up, sizeof(up), "{__name__=\"up\", instance=\"%s\", job=\"prometheus\"}", listen);
    snprintf(info, sizeof(info), "{__name__=\"prometheus_build_info\", ");
    int done = 0;
    for (int i = 0; i < 300 && !done; i++) {
        usleep(100 * 1000);
        done = rw_fake_count(&fake, up) > 0 && rw_fake_count(&fake, info) > 0 &&
               counter(h, "tidewatch_remote_write_metadata_received_total", NULL) > 0;
        int status;
        if (waitpid(pid, &status, WNOHANG) == pid) {
            dump_log(logp);
            fail_msg("prometheus exited early (status %d)", status);
        }
    }
    int64_t end_ms = now_ms();
    kill(pid, SIGTERM);
    int status = 0;
    waitpid(pid, &status, 0);
    tw_http_server_stop(srv);
    if (!done) {
        dump_log(logp);
    }

    assert_true(done);
    /* Exact values: up is 1 for a healthy self-scrape, build_info is always 1. */
    size_t nup = 0, ninfo = 0;
    for (size_t i = 0; i < fake.nrecs; i++) {
        const rw_rec_t *r = &fake.recs[i];
        if (strcmp(r->labels, up) == 0) {
            nup++;
            assert_true(r->v == 1.0);
            assert_true(r->t_ms >= start_ms - 1000 && r->t_ms <= end_ms + 1000);
        }
        if (strncmp(r->labels, info, strlen(info)) == 0) {
            ninfo++;
            assert_true(r->v == 1.0);
            assert_non_null(strstr(r->labels, "version=\"2.42"));
            assert_non_null(strstr(r->labels, "job=\"prometheus\""));
        }
    }
    assert_true(nup >= 1);
    assert_true(ninfo >= 1);
    assert_int_equal(fake.bad_labels, 0);
    assert_int_equal(fake.rollbacks, 0);
    assert_true(counter(h, "tidewatch_remote_write_requests_total", "204") >= 2);
    assert_true(counter(h, "tidewatch_remote_write_requests_total", "400") == 0);
    assert_true(counter(h, "tidewatch_remote_write_requests_total", "415") == 0);
    assert_true(counter(h, "tidewatch_remote_write_requests_total", "500") == 0);
    assert_true(counter(h, "tidewatch_remote_write_samples_received_total", NULL) ==
                (double)fake.nrecs);
    fprintf(stderr, "received %zu samples (%zu of up, %zu of prometheus_build_info) in %lld ms\n",
            fake.nrecs, nup, ninfo, (long long)(end_ms - start_ms));

    tw_http_server_free(srv);
    tw_remote_write_handler_free(h);
    rw_fake_fini(&fake);
    nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_prometheus_remote_write),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
