/* SPDX-License-Identifier: Apache-2.0 */
/*
 * orch_exec.c - the "exec" orchestrator driver: for orchestrators that have a CLI and no API we
 * speak (docker compose, ECS through the aws CLI, ...), set_scale runs a configured argv
 * template such as
 *     ["docker", "compose", "-p", "{namespace}", "up", "-d", "--scale", "{name}={replicas}"]
 * and get_scale optionally runs another one that prints the current count.
 *
 * How it works: the template words are expanded into a fresh argv ({namespace}, {name},
 * {group}, {replicas}; {{ and }} for literal braces), argv[0] is looked up in PATH before the
 * fork, and the child execs it directly, in a new process group, with stdin from /dev/null and
 * stdout/stderr into pipes; no shell ever sees the values. The parent polls the pipes until
 * both close and the child has exited, or until the deadline, when the whole group gets SIGKILL
 * and the call is TW_ETRANSIENT. Output is kept up to a limit; the rest is read and dropped so
 * the child never blocks on a full pipe.
 *
 * Thread model: one thread at a time per driver. fork() from a threaded process is safe here
 * because the child calls only async-signal-safe functions before execve().
 */
#define _GNU_SOURCE /* pipe2 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "autoscaler/orchestrator/orchestrator_int.h"
#include "common/mem.h"
#include "common/timeutil.h"

extern char **environ;

#define OUT_MAX_BYTES 65536
#define EX_TEMPFAIL_CODE 75

/* ------------------------------------------------------------------------------------------ */
/* Templates (pure)                                                                           */
/* ------------------------------------------------------------------------------------------ */

/* Walks one word; with out != NULL appends the expansion. Returns 0 or TW_EINVAL. */
static int expand_word(const char *w, const tw_orch_exec_vars_t *v, tw_buf_t *out, tw_error_t *err)
{
    for (const char *p = w; *p != '\0';) {
        if (p[0] == '{' && p[1] == '{') {
            if (out != NULL) {
                tw_buf_putc(out, '{');
            }
            p += 2;
            continue;
        }
        if (p[0] == '}' && p[1] == '}') {
            if (out != NULL) {
                tw_buf_putc(out, '}');
            }
            p += 2;
            continue;
        }
        if (*p == '}') {
            return tw_error_set(err, TW_EINVAL, "exec template \"%s\": unmatched '}'", w);
        }
        if (*p != '{') {
            if (out != NULL) {
                tw_buf_putc(out, *p);
            }
            p++;
            continue;
        }
        const char *end = strchr(p, '}');
        if (end == NULL) {
            return tw_error_set(err, TW_EINVAL, "exec template \"%s\": unterminated '{'", w);
        }
        size_t n = (size_t)(end - p - 1);
        const char *name = p + 1;
        const char *val = NULL;
        char num[32];
        if (n == 9 && memcmp(name, "namespace", 9) == 0) {
            val = v != NULL && v->namespace != NULL ? v->namespace : "";
        } else if (n == 4 && memcmp(name, "name", 4) == 0) {
            val = v != NULL && v->name != NULL ? v->name : "";
        } else if (n == 5 && memcmp(name, "group", 5) == 0) {
            val = v != NULL && v->group != NULL ? v->group : "";
        } else if (n == 8 && memcmp(name, "replicas", 8) == 0) {
            snprintf(num, sizeof(num), "%lld", v != NULL ? (long long)v->replicas : 0LL);
            val = num;
        } else {
            return tw_error_set(err, TW_EINVAL,
                                "exec template \"%s\": unknown placeholder {%.*s} (expected "
                                "{namespace}, {name}, {group} or {replicas})",
                                w, (int)n, name);
        }
        if (out != NULL) {
            tw_buf_puts(out, val);
        }
        p = end + 1;
    }
    return 0;
}

int tw_orch_exec_template_check(const char *const *tmpl, tw_error_t *err)
{
    if (tmpl == NULL || tmpl[0] == NULL || tmpl[0][0] == '\0') {
        return tw_error_set(err, TW_EINVAL, "exec template: empty command");
    }
    for (size_t i = 0; tmpl[i] != NULL; i++) {
        int rc = expand_word(tmpl[i], NULL, NULL, err);
        if (rc != 0) {
            return rc;
        }
    }
    return 0;
}

int tw_orch_exec_expand(const char *const *tmpl, const tw_orch_exec_vars_t *vars, char ***argv_out,
                        tw_error_t *err)
{
    *argv_out = NULL;
    int rc = tw_orch_exec_template_check(tmpl, err);
    if (rc != 0) {
        return rc;
    }
    size_t n = 0;
    while (tmpl[n] != NULL) {
        n++;
    }
    char **argv = tw_xcalloc(n + 1, sizeof(*argv));
    for (size_t i = 0; i < n; i++) {
        tw_buf_t b;
        tw_buf_init(&b, 0);
        (void)expand_word(tmpl[i], vars, &b, err);
        argv[i] = tw_buf_steal(&b, NULL);
    }
    *argv_out = argv;
    return 0;
}

void tw_orch_exec_argv_free(char **argv)
{
    if (argv == NULL) {
        return;
    }
    for (size_t i = 0; argv[i] != NULL; i++) {
        free(argv[i]);
    }
    free(argv);
}

/* ------------------------------------------------------------------------------------------ */
/* Running a command                                                                          */
/* ------------------------------------------------------------------------------------------ */

/* argv[0] itself when it has a '/', else the first executable PATH entry. Returns malloc'd. */
static char *resolve(const char *cmd)
{
    if (strchr(cmd, '/') != NULL) {
        return tw_xstrdup(cmd);
    }
    const char *path = getenv("PATH");
    if (path == NULL || path[0] == '\0') {
        path = "/usr/local/bin:/usr/bin:/bin";
    }
    tw_buf_t b;
    tw_buf_init(&b, 0);
    for (const char *p = path;;) {
        const char *colon = strchr(p, ':');
        size_t n = colon != NULL ? (size_t)(colon - p) : strlen(p);
        tw_buf_reset(&b);
        tw_buf_printf(&b, "%.*s/%s", (int)n, n == 0 ? "." : p, cmd);
        struct stat st;
        if (access(b.data, X_OK) == 0 && stat(b.data, &st) == 0 && S_ISREG(st.st_mode)) {
            return tw_buf_steal(&b, NULL);
        }
        if (colon == NULL) {
            break;
        }
        p = colon + 1;
    }
    tw_buf_fini(&b);
    return NULL;
}

/* Reads what is there; appends up to the buffer's limit and drops the rest. Returns false at
 * EOF or error. */
static bool drain(int fd, tw_buf_t *b)
{
    char chunk[4096];
    ssize_t n = read(fd, chunk, sizeof(chunk));
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) {
        return true;
    }
    if (n <= 0) {
        return false;
    }
    if (b != NULL) {
        size_t room = b->max == 0 ? (size_t)n : (b->max > b->len ? b->max - b->len : 0);
        (void)tw_buf_append(b, chunk, (size_t)n < room ? (size_t)n : room);
    }
    return true;
}

int tw_orch_exec_run(char *const *argv, int64_t timeout_ms, tw_buf_t *out, tw_buf_t *errout,
                     int *exit_code, tw_error_t *err)
{
    int po[2] = {-1, -1}, pe[2] = {-1, -1}, devnull = -1;
    int rc = 0, status = 0;
    bool timed_out = false, reaped = false;
    pid_t pid = -1;
    *exit_code = -1;
    char *path = resolve(argv[0]);
    if (path == NULL) {
        return tw_error_set(err, -ENOENT, "exec %s: command not found in PATH", argv[0]);
    }
    devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (devnull < 0 || pipe2(po, O_CLOEXEC) != 0 || pipe2(pe, O_CLOEXEC) != 0) {
        rc = tw_error_set(err, -errno, "exec %s: %s", argv[0], strerror(errno));
        goto out;
    }
    pid = fork();
    if (pid < 0) {
        rc = tw_error_set(err, -errno, "exec %s: fork: %s", argv[0], strerror(errno));
        goto out;
    }
    if (pid == 0) {
        /* Child: async-signal-safe calls only. */
        setpgid(0, 0);
        dup2(devnull, STDIN_FILENO);
        dup2(po[1], STDOUT_FILENO);
        dup2(pe[1], STDERR_FILENO);
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        execve(path, argv, environ);
        _exit(127);
    }
    setpgid(pid, pid); /* also from here, so the kill below cannot race the child's setpgid */
    close(po[1]);
    close(pe[1]);
    po[1] = pe[1] = -1;

    int64_t deadline = tw_mono_ns() + (timeout_ms > 0 ? timeout_ms : 30000) * 1000000;
    bool open_o = true, open_e = true;
    for (;;) {
        int64_t left_ms = (deadline - tw_mono_ns()) / 1000000;
        if (left_ms <= 0) {
            timed_out = true;
            break;
        }
        if (!open_o && !open_e) {
            pid_t w = waitpid(pid, &status, WNOHANG);
            if (w == pid) {
                reaped = true;
                break;
            }
            struct timespec ts = {0, 5000000};
            nanosleep(&ts, NULL);
            continue;
        }
        struct pollfd fds[2] = {{.fd = open_o ? po[0] : -1, .events = POLLIN},
                                {.fd = open_e ? pe[0] : -1, .events = POLLIN}};
        int n = poll(fds, 2, left_ms > 1000 ? 1000 : (int)left_ms);
        if (n < 0 && errno != EINTR) {
            rc = tw_error_set(err, -errno, "exec %s: poll: %s", argv[0], strerror(errno));
            timed_out = true; /* kill it, we cannot watch it */
            break;
        }
        if (n > 0 && (fds[0].revents & (POLLIN | POLLHUP | POLLERR)) != 0) {
            open_o = drain(po[0], out);
        }
        if (n > 0 && (fds[1].revents & (POLLIN | POLLHUP | POLLERR)) != 0) {
            open_e = drain(pe[0], errout);
        }
    }
    if (timed_out) {
        kill(-pid, SIGKILL);
        kill(pid, SIGKILL);
    }
    if (!reaped) {
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
        }
    }
    if (WIFEXITED(status)) {
        *exit_code = WEXITSTATUS(status);
    } else if (WIFSIGNALED(status)) {
        *exit_code = 128 + WTERMSIG(status);
    }
    if (timed_out && rc == 0) {
        rc = tw_error_set(err, TW_ETRANSIENT, "exec %s: killed after the %lld ms timeout", argv[0],
                          (long long)(timeout_ms > 0 ? timeout_ms : 30000));
    }
out:
    free(path);
    for (int i = 0; i < 2; i++) {
        if (po[i] >= 0) {
            close(po[i]);
        }
        if (pe[i] >= 0) {
            close(pe[i]);
        }
    }
    if (devnull >= 0) {
        close(devnull);
    }
    return rc;
}

/* ------------------------------------------------------------------------------------------ */
/* The driver                                                                                 */
/* ------------------------------------------------------------------------------------------ */

typedef struct exec_drv {
    char **scale_argv; /* templates, owned */
    char **get_argv;
    int64_t timeout_ms;
} exec_drv_t;

static char **copy_argv(const char *const *a)
{
    if (a == NULL) {
        return NULL;
    }
    size_t n = 0;
    while (a[n] != NULL) {
        n++;
    }
    char **c = tw_xcalloc(n + 1, sizeof(*c));
    for (size_t i = 0; i < n; i++) {
        c[i] = tw_xstrdup(a[i]);
    }
    return c;
}

/* Runs a template; maps the outcome to the orchestrator codes. */
static int run_template(exec_drv_t *x, char **tmpl, const tw_orch_ref_t *ref, int64_t replicas,
                        tw_buf_t *out, tw_error_t *err)
{
    tw_orch_exec_vars_t vars = {
        .namespace = ref->namespace, .name = ref->name, .group = ref->group, .replicas = replicas};
    char **argv = NULL;
    tw_buf_t errout;
    tw_buf_init(&errout, 4096);
    int code = -1;
    int rc = tw_orch_exec_expand((const char *const *)tmpl, &vars, &argv, err);
    if (rc == 0) {
        rc = tw_orch_exec_run(argv, x->timeout_ms, out, &errout, &code, err);
    }
    if (rc == 0 && code != 0) {
        /* The end of stderr, on one line, says why. */
        const char *e = errout.data != NULL ? errout.data : "";
        size_t n = errout.len;
        while (n > 0 && (e[n - 1] == '\n' || e[n - 1] == '\r' || e[n - 1] == ' ')) {
            n--;
        }
        size_t start = n > 300 ? n - 300 : 0;
        char tail[320];
        size_t k = 0;
        for (size_t i = start; i < n && k < sizeof(tail) - 1; i++) {
            tail[k++] = e[i] == '\n' ? ' ' : e[i];
        }
        tail[k] = '\0';
        rc = tw_error_set(err, code == EX_TEMPFAIL_CODE ? TW_ETRANSIENT : TW_EIO,
                          "exec %s for %s/%s: exit status %d%s%s", argv[0],
                          ref->namespace != NULL ? ref->namespace : "", ref->name, code,
                          k > 0 ? ": " : "", tail);
    }
    tw_orch_exec_argv_free(argv);
    tw_buf_fini(&errout);
    return rc;
}

static int exec_get_scale(void *impl, const tw_orch_ref_t *ref, tw_orch_scale_t *out,
                          tw_error_t *err)
{
    exec_drv_t *x = impl;
    if (x->get_argv == NULL) {
        return tw_error_set(err, TW_EINVAL,
                            "the exec orchestrator driver has no get command "
                            "configured");
    }
    tw_buf_t o;
    tw_buf_init(&o, OUT_MAX_BYTES);
    int rc = run_template(x, x->get_argv, ref, 0, &o, err);
    if (rc == 0) {
        char *end;
        const char *s = o.data != NULL ? o.data : "";
        while (*s == ' ' || *s == '\n' || *s == '\t') {
            s++;
        }
        errno = 0;
        long v = strtol(s, &end, 10);
        while (*end == ' ' || *end == '\n' || *end == '\r' || *end == '\t') {
            end++;
        }
        if (end == s || *end != '\0' || errno != 0 || v < 0 || v > INT32_MAX) {
            int shown = (int)strcspn(s, "\r\n");
            rc = tw_error_set(err, TW_EINVAL,
                              "exec %s for %s: expected a replica count on stdout, got \"%.*s\"",
                              x->get_argv[0], ref->name, shown < 40 ? shown : 40, s);
        } else {
            out->spec_replicas = out->status_replicas = (int32_t)v;
        }
    }
    tw_buf_fini(&o);
    return rc;
}

static int exec_set_scale(void *impl, const tw_orch_ref_t *ref, const tw_orch_scale_t *observed,
                          int32_t replicas, tw_orch_scale_t *out, tw_error_t *err)
{
    exec_drv_t *x = impl;
    tw_buf_t o;
    tw_buf_init(&o, OUT_MAX_BYTES);
    int rc = run_template(x, x->scale_argv, ref, replicas, &o, err);
    if (rc == 0) {
        if (observed != NULL) {
            *out = *observed;
        }
        out->spec_replicas = replicas;
    }
    tw_buf_fini(&o);
    return rc;
}

static void exec_free(void *impl)
{
    exec_drv_t *x = impl;
    if (x == NULL) {
        return;
    }
    tw_orch_exec_argv_free(x->scale_argv);
    tw_orch_exec_argv_free(x->get_argv);
    free(x);
}

int tw_orch_exec_new(const tw_orch_exec_options_t *o, void **impl_out, tw_error_t *err)
{
    int rc = tw_orch_exec_template_check(o->scale_argv, err);
    if (rc == 0 && o->get_argv != NULL) {
        rc = tw_orch_exec_template_check(o->get_argv, err);
    }
    if (rc != 0) {
        return rc;
    }
    exec_drv_t *x = tw_xcalloc(1, sizeof(*x));
    x->scale_argv = copy_argv(o->scale_argv);
    x->get_argv = copy_argv(o->get_argv);
    x->timeout_ms = o->timeout_ms > 0 ? o->timeout_ms : 30000;
    *impl_out = x;
    return 0;
}

const tw_orch_ops_t tw_orch_exec_ops = {
    .name = "exec",
    .get_scale = exec_get_scale,
    .set_scale = exec_set_scale,
    .list_pods = NULL,
    .patch_resources = NULL,
    .records = NULL,
    .free = exec_free,
};
