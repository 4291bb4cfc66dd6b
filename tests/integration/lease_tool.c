/* SPDX-License-Identifier: Apache-2.0 */
/*
 * lease_tool.c - one leader-election candidate for test_kube_sd_lease.sh: runs
 * tw_kube_lease_tick() against an API server every 100 ms and prints a line whenever its
 * leadership changes ("<wall-clock ms> leader" / "<ms> follower"), flushing at once. Stops on
 * SIGTERM/SIGINT (releasing the lease with --release) or after --run-ms. SIGKILL it to make a
 * holder that simply stops renewing.
 *
 *   lease_tool --server URL [--token-file F] [--ca-file F] [--insecure] --namespace NS --name N
 *              --identity ID [--duration-ms D] [--renew-ms R] [--retry-ms P] [--run-ms T]
 *              [--release]
 *
 * Compiled by the script against the build's libtw_common.a (like orch_tool.c).
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/kube.h"
#include "common/timeutil.h"

static volatile sig_atomic_t stop_flag;

static void on_signal(int sig)
{
    (void)sig;
    stop_flag = 1;
}

static int64_t num(const char *s)
{
    char *end = NULL;
    long long v = strtoll(s, &end, 10);
    if (end == s || *end != '\0' || v < 0) {
        fprintf(stderr, "lease_tool: bad number %s\n", s);
        exit(2);
    }
    return (int64_t)v;
}

int main(int argc, char **argv)
{
    tw_kube_config_t kc = {0};
    tw_kube_lease_options_t lo = {0};
    int64_t run_ms = 0;
    bool release = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--insecure") == 0) {
            kc.insecure = true;
            continue;
        }
        if (strcmp(a, "--release") == 0) {
            release = true;
            continue;
        }
        if (v == NULL) {
            fprintf(stderr, "lease_tool: %s needs a value\n", a);
            return 2;
        }
        i++;
        if (strcmp(a, "--server") == 0) {
            kc.server = strdup(v);
        } else if (strcmp(a, "--token-file") == 0) {
            kc.token_file = strdup(v);
        } else if (strcmp(a, "--ca-file") == 0) {
            kc.ca_file = strdup(v);
        } else if (strcmp(a, "--namespace") == 0) {
            lo.namespace = v;
        } else if (strcmp(a, "--name") == 0) {
            lo.name = v;
        } else if (strcmp(a, "--identity") == 0) {
            lo.identity = v;
        } else if (strcmp(a, "--duration-ms") == 0) {
            lo.lease_duration_ms = num(v);
        } else if (strcmp(a, "--renew-ms") == 0) {
            lo.renew_deadline_ms = num(v);
        } else if (strcmp(a, "--retry-ms") == 0) {
            lo.retry_period_ms = num(v);
        } else if (strcmp(a, "--run-ms") == 0) {
            run_ms = num(v);
        } else {
            fprintf(stderr, "lease_tool: unknown option %s\n", a);
            return 2;
        }
    }
    signal(SIGTERM, on_signal);
    signal(SIGINT, on_signal);
    tw_error_t err;
    tw_kube_client_t *c = NULL;
    tw_kube_lease_t *l = NULL;
    tw_kube_client_options_t co = {.qps = 50, .burst = 50, .timeout_ms = 2000, .max_retries = -1};
    if (tw_kube_client_new(&kc, &co, &c, &err) != 0 || tw_kube_lease_new(&lo, &l, &err) != 0) {
        fprintf(stderr, "lease_tool: %s\n", err.msg);
        return 2;
    }
    int64_t start = tw_now_ms();
    int state = -1;
    while (!stop_flag && (run_ms == 0 || tw_now_ms() - start < run_ms)) {
        int64_t now = tw_now_ms();
        bool leader = tw_kube_lease_is_leader(l, now);
        if (now >= tw_kube_lease_next_ms(l)) {
            tw_error_clear(&err);
            if (tw_kube_lease_tick(l, c, now, &leader, &err) != 0) {
                fprintf(stderr, "lease_tool %s: %s\n", lo.identity, err.msg);
            }
        }
        if ((int)leader != state) {
            state = leader;
            printf("%lld %s\n", (long long)now, leader ? "leader" : "follower");
            fflush(stdout);
        }
        struct timespec ts = {0, 100 * 1000000};
        nanosleep(&ts, NULL);
    }
    if (release && tw_kube_lease_release(l, c, tw_now_ms(), &err) != 0) {
        fprintf(stderr, "lease_tool %s: release: %s\n", lo.identity, err.msg);
    }
    printf("%lld stopped\n", (long long)tw_now_ms());
    tw_kube_lease_free(l);
    tw_kube_client_free(c);
    tw_kube_config_fini(&kc);
    return 0;
}
