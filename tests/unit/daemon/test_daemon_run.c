/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_daemon_run.c - the whole daemon as a subprocess of the built binary (found next to the
 * test binary's directory: build/tests/test_daemon_run -> build/tidewatch), on 127.0.0.1 with
 * port 0, reading the procfs fixture tree (and the cgroup fixture tree when there is one, else
 * the machine's /sys/fs/cgroup): /metrics in both formats and gzipped, /-/healthy, /-/ready,
 * /-/reload with a changed and then a broken config, SIGHUP, a second instance on the same
 * data directory, and SIGTERM with a clean exit within 5 s.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* Paths are short (a mkdtemp directory, the fixtures); 512 bytes leave room to combine them. */
#define P 512
static char bin[P];
static char dir[] = "/tmp/tw_daemon_run_XXXXXX";
static char cfg_path[P];
static char log_path[P];
static char cgroup_root[P];
static char proc_root[P];
static char sys_root[P];
static pid_t daemon_pid = -1; /* killed by teardown when a test fails midway */

static void sleep_ms(long ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000};
    nanosleep(&ts, NULL);
}

static bool is_dir(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

static char *read_all(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        return calloc(1, 1);
    }
    size_t cap = 4096, len = 0, n;
    char *s = malloc(cap);
    while ((n = fread(s + len, 1, cap - len - 1, f)) > 0) {
        len += n;
        if (len + 1 == cap) {
            cap *= 2;
            s = realloc(s, cap);
        }
    }
    s[len] = '\0';
    fclose(f);
    return s;
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

/* A config for the fixture trees; procfs on or off, and an extra web line. */
static void write_config(bool procfs, const char *listen, const char *extra_web)
{
    char text[8 * P];
    snprintf(text, sizeof(text),
             "global:\n"
             "  scrape_interval: 15s\n"
             "collector:\n"
             "  interval: 1s\n"
             "  cgroup:\n"
             "    root: %s\n"
             "  procfs:\n"
             "    enabled: %s\n"
             "    proc_root: %s\n"
             "    sys_root: %s\n"
             "storage:\n"
             "  path: %s/data\n"
             "web:\n"
             "  listen_address: %s\n"
             "%s",
             cgroup_root, procfs ? "true" : "false", proc_root, sys_root, dir, listen, extra_web);
    write_file(cfg_path, text);
}

/* The port of the nth "Listening on" log line (1-based), waiting up to 5 s; 0 if none. */
static int wait_port(const char *logp, int nth)
{
    for (int tries = 0; tries < 100; tries++) {
        char *log = read_all(logp);
        int seen = 0, port = 0;
        for (char *p = log; (p = strstr(p, "msg=\"Listening on\"")) != NULL; p++) {
            char *q = strstr(p, "port=");
            if (q != NULL && ++seen == nth) {
                port = (int)strtol(q + 5, NULL, 10);
            }
        }
        free(log);
        if (port > 0) {
            return port;
        }
        sleep_ms(50);
    }
    return 0;
}

typedef struct resp {
    int status;
    char *head; /* status line and headers */
    char *body;
    size_t body_len;
} resp_t;

static void resp_free(resp_t *r)
{
    free(r->head);
    free(r->body);
    memset(r, 0, sizeof(*r));
}

/* One HTTP/1.0 request; headers is "" or "Name: value\r\n..." lines. */
static resp_t http(int port, const char *method, const char *path, const char *headers)
{
    resp_t r = {0};
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    assert_true(fd >= 0);
    if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
        close(fd);
        r.status = -1;
        return r;
    }
    char req[1024];
    int n = snprintf(req, sizeof(req),
                     "%s %s HTTP/1.0\r\nHost: 127.0.0.1\r\n%sContent-Length: 0\r\n\r\n", method,
                     path, headers);
    assert_int_equal(write(fd, req, (size_t)n), n);
    size_t cap = 65536, len = 0;
    char *buf = malloc(cap);
    ssize_t got;
    while ((got = read(fd, buf + len, cap - len - 1)) > 0) {
        len += (size_t)got;
        if (len + 1 >= cap) {
            cap *= 2;
            buf = realloc(buf, cap);
        }
    }
    close(fd);
    buf[len] = '\0';
    char *sep = strstr(buf, "\r\n\r\n");
    if (sep == NULL) {
        fail_msg("%s %s on port %d: no end of headers in %zu bytes: %.300s", method, path, port,
                 len, buf);
    }
    size_t hlen = (size_t)(sep - buf);
    r.head = strndup(buf, hlen);
    r.body_len = len - hlen - 4;
    r.body = malloc(r.body_len + 1);
    memcpy(r.body, sep + 4, r.body_len);
    r.body[r.body_len] = '\0';
    r.status = (int)strtol(buf + 9, NULL, 10);
    free(buf);
    return r;
}

static bool has_line(const char *text, const char *line)
{
    size_t n = strlen(line);
    for (const char *p = text; (p = strstr(p, line)) != NULL; p++) {
        if ((p == text || p[-1] == '\n') && (p[n] == '\n' || p[n] == '\0')) {
            return true;
        }
    }
    return false;
}

static pid_t spawn(const char *logp)
{
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int fd = open(logp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        dup2(fd, 2);
        dup2(fd, 1);
        execl(bin, bin, "--config.file", cfg_path, (char *)NULL);
        _exit(127);
    }
    return pid;
}

/* Waits up to ms for pid; returns its wait status or -1 on timeout. */
static int wait_exit(pid_t pid, long ms)
{
    for (long t = 0; t <= ms; t += 20) {
        int st;
        if (waitpid(pid, &st, WNOHANG) == pid) {
            return st;
        }
        sleep_ms(20);
    }
    return -1;
}

/* Polls /metrics until it contains (want true) or lacks (want false) line; returns the body. */
static char *metrics_until(int port, const char *line, bool want)
{
    for (int tries = 0; tries < 100; tries++) {
        resp_t r = http(port, "GET", "/metrics", "");
        if (r.status == 200 && has_line(r.body, line) == want) {
            char *b = r.body;
            r.body = NULL;
            resp_free(&r);
            return b;
        }
        resp_free(&r);
        sleep_ms(100);
    }
    fail_msg("/metrics never %s \"%s\"", want ? "contained" : "lost", line);
    return NULL;
}

static void test_daemon_lifecycle(void **state)
{
    (void)state;
    char *log;
    write_config(true, "127.0.0.1:0", "");
    pid_t pid = spawn(log_path);
    daemon_pid = pid;
    int port = wait_port(log_path, 1);
    assert_true(port > 0);

    resp_t r = http(port, "GET", "/-/healthy", "");
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "tidewatch is Healthy.\n");
    resp_free(&r);

    for (int tries = 0; tries < 100; tries++) {
        r = http(port, "GET", "/-/ready", "");
        if (r.status == 200) {
            break;
        }
        assert_int_equal(r.status, 503);
        assert_string_equal(r.body, "Service Unavailable\n");
        resp_free(&r);
        sleep_ms(50);
    }
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "tidewatch is Ready.\n");
    resp_free(&r);

    /* Text format: the fixture's load average, the self-metrics. */
    r = http(port, "GET", "/metrics", "");
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.head, "Content-Type: text/plain; version=0.0.4; charset=utf-8"));
    assert_true(has_line(r.body, "node_load1 0.36"));
    assert_true(has_line(r.body, "node_load15 0.09"));
    assert_true(has_line(r.body, "tidewatch_config_last_reload_successful 1"));
    assert_true(has_line(r.body, "# TYPE tidewatch_build_info gauge"));
    assert_non_null(
        strstr(r.body, "\ntidewatch_collector_collections_total{collector=\"procfs\"} "));
    assert_non_null(
        strstr(r.body, "\ntidewatch_collector_collections_total{collector=\"cgroup\"} "));
    assert_non_null(strstr(r.body, "\nprocess_resident_memory_bytes "));
    assert_null(strstr(r.body, "# EOF"));
    resp_free(&r);

    /* OpenMetrics. */
    r = http(port, "GET", "/metrics",
             "Accept: application/openmetrics-text;version=1.0.0,text/plain;q=0.5\r\n");
    assert_int_equal(r.status, 200);
    assert_non_null(
        strstr(r.head, "Content-Type: application/openmetrics-text; version=1.0.0; charset=utf-8"));
    assert_true(r.body_len > 6);
    assert_string_equal(r.body + r.body_len - 6, "# EOF\n");
    assert_true(has_line(r.body, "node_load1 0.36"));
    resp_free(&r);

    /* gzip. */
    r = http(port, "GET", "/metrics", "Accept-Encoding: gzip\r\n");
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.head, "Content-Encoding: gzip"));
    assert_true(r.body_len > 2);
    assert_int_equal((unsigned char)r.body[0], 0x1f);
    assert_int_equal((unsigned char)r.body[1], 0x8b);
    resp_free(&r);

    /* Reload is POST or PUT only. */
    r = http(port, "GET", "/-/reload", "");
    assert_int_equal(r.status, 405);
    resp_free(&r);

    /* A second instance on the same data directory fails on the lock. */
    char log2[P];
    snprintf(log2, sizeof(log2), "%s/second.log", dir);
    pid_t pid2 = spawn(log2);
    int st2 = wait_exit(pid2, 5000);
    assert_true(st2 != -1);
    assert_true(WIFEXITED(st2));
    assert_int_equal(WEXITSTATUS(st2), 1);
    log = read_all(log2);
    char want[2 * P];
    snprintf(want, sizeof(want), "storage directory %s/data is in use: %s/data/lock is locked", dir,
             dir);
    assert_non_null(strstr(log, want));
    free(log);

    /* A changed config via /-/reload: procfs off, and a new listen address that moves the
     * server (the answer to this very request still arrives from the old one). */
    write_config(false, "localhost:0", "");
    r = http(port, "POST", "/-/reload", "");
    assert_int_equal(r.status, 200);
    resp_free(&r);
    int port2 = wait_port(log_path, 2);
    assert_true(port2 > 0);
    char *body = metrics_until(port2, "node_load1 0.36", false);
    assert_true(has_line(body, "tidewatch_config_last_reload_successful 1"));
    free(body);

    /* A broken config: 500 naming file:line:col, the old config keeps running. */
    write_file(cfg_path, "web:\n  listen_address: 127.0.0.1:0\n  bogus: 1\n");
    r = http(port2, "PUT", "/-/reload", "");
    assert_int_equal(r.status, 500);
    char want500[2 * P];
    snprintf(want500, sizeof(want500),
             "failed to reload config: %s:3:3: unknown key \"bogus\" in web (expected one of "
             "listen_address, max_connections, read_timeout, max_request_body_bytes)\n",
             cfg_path);
    assert_string_equal(r.body, want500);
    resp_free(&r);
    body = metrics_until(port2, "tidewatch_config_last_reload_successful 0", true);
    assert_false(has_line(body, "node_load1 0.36"));
    free(body);
    log = read_all(log_path);
    assert_non_null(strstr(log, "level=error component=daemon msg=\"Error reloading config\""));
    free(log);

    /* SIGHUP with a good config: procfs back, same address so the port stays; a changed body
     * limit applies without a restart. */
    write_config(true, "localhost:0", "  max_request_body_bytes: 4\n");
    assert_int_equal(kill(pid, SIGHUP), 0);
    body = metrics_until(port2, "node_load1 0.36", true);
    assert_true(has_line(body, "tidewatch_config_last_reload_successful 1"));
    free(body);
    r = http(port2, "POST", "/-/reload", "Content-Length: 10\r\n");
    assert_int_equal(r.status, 413);
    resp_free(&r);

    /* SIGTERM: clean exit within 5 s, lock released. */
    assert_int_equal(kill(pid, SIGTERM), 0);
    int st = wait_exit(pid, 5000);
    assert_true(st != -1);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
    daemon_pid = -1;
    log = read_all(log_path);
    assert_non_null(strstr(log, "msg=\"Server is ready to receive web requests.\""));
    assert_non_null(strstr(log, "msg=\"Received SIGTERM, exiting gracefully...\""));
    assert_non_null(strstr(log, "msg=\"See you next time!\""));
    free(log);
}

static void test_check_config_and_version(void **state)
{
    (void)state;
    char out[P], cmd[8 * P];
    snprintf(out, sizeof(out), "%s/cmd.out", dir);
    write_config(true, "127.0.0.1:0", "");
    snprintf(cmd, sizeof(cmd), "'%s' check config '%s' >'%s' 2>&1", bin, cfg_path, out);
    assert_int_equal(WEXITSTATUS(system(cmd)), 0);
    char *text = read_all(out);
    char want[2 * P];
    snprintf(want, sizeof(want), "  SUCCESS: %s is valid\n", cfg_path);
    assert_non_null(strstr(text, want));
    free(text);

    write_file(cfg_path, "collector:\n  interval: soon\n");
    assert_int_equal(WEXITSTATUS(system(cmd)), 1);
    text = read_all(out);
    snprintf(want, sizeof(want), "  FAILED: %s:2:13: collector.interval: invalid duration",
             cfg_path);
    assert_non_null(strstr(text, want));
    free(text);

    snprintf(cmd, sizeof(cmd), "'%s' version >'%s' 2>&1", bin, out);
    assert_int_equal(WEXITSTATUS(system(cmd)), 0);
    text = read_all(out);
    assert_non_null(strstr(text, "tidewatch, version "));
    assert_non_null(strstr(text, "(revision: "));
    free(text);

    snprintf(cmd, sizeof(cmd), "'%s' --no-such-flag >'%s' 2>&1", bin, out);
    assert_int_equal(WEXITSTATUS(system(cmd)), 2);
    text = read_all(out);
    assert_non_null(strstr(text, "tidewatch: error: unknown flag --no-such-flag\n"));
    assert_non_null(strstr(text, "usage: tidewatch"));
    free(text);

    /* The printed default passes the checker. */
    char def[P];
    snprintf(def, sizeof(def), "%s/default.yml", dir);
    snprintf(cmd, sizeof(cmd), "'%s' config default >'%s' && '%s' check config '%s' >'%s' 2>&1",
             bin, def, bin, def, out);
    assert_int_equal(WEXITSTATUS(system(cmd)), 0);
}

static int setup(void **state)
{
    (void)state;
    char self[P - 16];
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    if (n <= 0) {
        return -1;
    }
    self[n] = '\0';
    /* build/tests/test_daemon_run -> build/tidewatch */
    char *slash = strrchr(self, '/');
    *slash = '\0';
    slash = strrchr(self, '/');
    *slash = '\0';
    snprintf(bin, sizeof(bin), "%s/tidewatch", self);
    if (access(bin, X_OK) != 0) {
        fprintf(stderr, "tidewatch binary not found at %s\n", bin);
        return -1;
    }
    if (mkdtemp(dir) == NULL) {
        return -1;
    }
    snprintf(cfg_path, sizeof(cfg_path), "%s/tidewatch.yml", dir);
    snprintf(log_path, sizeof(log_path), "%s/daemon.log", dir);
    snprintf(proc_root, sizeof(proc_root), "%s/procfs/proc", TW_FIXTURES);
    snprintf(sys_root, sizeof(sys_root), "%s/procfs/sys", TW_FIXTURES);
    /* The cgroup fixture tree when it exists, else this machine's. */
    static const char *const candidates[] = {"cgroup/v2", "cgroup/unified", "cgroup/v1", "cgroup"};
    snprintf(cgroup_root, sizeof(cgroup_root), "/sys/fs/cgroup");
    for (size_t i = 0; i < sizeof(candidates) / sizeof(candidates[0]); i++) {
        char cand[P];
        snprintf(cand, sizeof(cand), "%s/%s", TW_FIXTURES, candidates[i]);
        if (is_dir(cand)) {
            snprintf(cgroup_root, sizeof(cgroup_root), "%s", cand);
            break;
        }
    }
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    if (daemon_pid > 0) {
        char *log = read_all(log_path);
        fprintf(stderr, "daemon log:\n%s\n", log);
        free(log);
        kill(daemon_pid, SIGKILL);
        waitpid(daemon_pid, NULL, 0);
    }
    char cmd[2 * P];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_daemon_lifecycle),
        cmocka_unit_test(test_check_config_and_version),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
