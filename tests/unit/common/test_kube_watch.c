/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_kube_watch.c - the pure parts of common/kube: watch lines (every event type, the 410
 * ERROR Status, malformed lines), the stream decoder fed in arbitrary pieces (split lines, blank
 * lines, the line limit, a callback stopping the feed), Status errors, and loading a kubeconfig
 * file (server override, trailing slashes, a non-http server).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/kube.h"

static void test_line_parse(void **state)
{
    (void)state;
    tw_kube_event_t ev;
    tw_error_t err;
    const char *add = "{\"type\":\"ADDED\",\"object\":{\"kind\":\"Pod\",\"metadata\":{\"name\":"
                      "\"p\",\"resourceVersion\":\"1005\"}}}";
    assert_int_equal(tw_kube_watch_line_parse(add, strlen(add), &ev, &err), 0);
    assert_int_equal(ev.type, TW_KUBE_EVENT_ADDED);
    assert_string_equal(ev.resource_version, "1005");
    assert_string_equal(json_string_value(json_object_get(ev.object, "kind")), "Pod");
    assert_int_equal(ev.code, 0);
    tw_kube_event_fini(&ev);
    assert_null(ev.object);

    const char *bm = "{\"type\":\"BOOKMARK\",\"object\":{\"kind\":\"Pod\",\"metadata\":"
                     "{\"resourceVersion\":\"2000\"}}}";
    assert_int_equal(tw_kube_watch_line_parse(bm, strlen(bm), &ev, &err), 0);
    assert_int_equal(ev.type, TW_KUBE_EVENT_BOOKMARK);
    assert_string_equal(ev.resource_version, "2000");
    tw_kube_event_fini(&ev);

    const char *gone = "{\"type\":\"ERROR\",\"object\":{\"kind\":\"Status\",\"apiVersion\":\"v1\","
                       "\"status\":\"Failure\",\"message\":\"too old resource version: 1 "
                       "(1001)\",\"reason\":\"Expired\",\"code\":410}}";
    assert_int_equal(tw_kube_watch_line_parse(gone, strlen(gone), &ev, &err), 0);
    assert_int_equal(ev.type, TW_KUBE_EVENT_ERROR);
    assert_int_equal(ev.code, 410);
    assert_null(ev.resource_version);
    tw_kube_event_fini(&ev);

    static const struct {
        const char *line;
        const char *msg;
    } bad[] = {
        {"{\"type\":\"ADDED\"}", "watch event ADDED: \"object\" is not a JSON object"},
        {"{\"type\":\"ADDED\",\"object\":[]}",
         "watch event ADDED: \"object\" is not a JSON object"},
        {"{\"object\":{}}", "watch event: no \"type\" string"},
        {"{\"type\":\"UPSERT\",\"object\":{}}",
         "watch event: unknown type \"UPSERT\" (expected ADDED, MODIFIED, DELETED, BOOKMARK or "
         "ERROR)"},
        {"[1]", "watch event: not a JSON object (another JSON value)"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(tw_kube_watch_line_parse(bad[i].line, strlen(bad[i].line), &ev, &err),
                         TW_EPARSE);
        assert_string_equal(err.msg, bad[i].msg);
        assert_null(ev.object);
    }
    assert_int_equal(tw_kube_watch_line_parse("{\"type\":", 8, &ev, &err), TW_EPARSE);
}

typedef struct seen {
    char names[8][32];
    int types[8];
    int n;
    int stop_after; /* 0: never */
} seen_t;

static int collect(void *ctx, tw_kube_event_t *ev)
{
    seen_t *s = ctx;
    const char *name =
        json_string_value(json_object_get(json_object_get(ev->object, "metadata"), "name"));
    snprintf(s->names[s->n], sizeof(s->names[0]), "%s", name != NULL ? name : "?");
    s->types[s->n] = (int)ev->type;
    s->n++;
    tw_kube_event_fini(ev);
    return s->stop_after != 0 && s->n >= s->stop_after ? TW_ECANCELED : 0;
}

static void test_decoder(void **state)
{
    (void)state;
    const char stream[] = "{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":\"a\"}}}\n"
                          "\r\n"
                          "{\"type\":\"MODIFIED\",\"object\":{\"metadata\":{\"name\":\"b\"}}}\n"
                          "{\"type\":\"DELETED\",\"object\":{\"metadata\":{\"name\":\"c\"}}}\n"
                          "{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":\"d\"}}}";
    /* every split point gives the same events; the unterminated last line waits */
    for (size_t cut = 0; cut <= sizeof(stream) - 1; cut++) {
        tw_kube_watch_decoder_t d;
        seen_t s = {0};
        tw_error_t err;
        tw_kube_watch_decoder_init(&d, 0);
        assert_int_equal(tw_kube_watch_decoder_feed(&d, stream, cut, collect, &s, &err), 0);
        assert_int_equal(tw_kube_watch_decoder_feed(&d, stream + cut, sizeof(stream) - 1 - cut,
                                                    collect, &s, &err),
                         0);
        assert_int_equal(s.n, 3);
        assert_string_equal(s.names[0], "a");
        assert_string_equal(s.names[2], "c");
        assert_int_equal(s.types[1], TW_KUBE_EVENT_MODIFIED);
        assert_int_equal(s.types[2], TW_KUBE_EVENT_DELETED);
        assert_int_equal(tw_kube_watch_decoder_feed(&d, "\n", 1, collect, &s, &err), 0);
        assert_int_equal(s.n, 4);
        assert_string_equal(s.names[3], "d");
        tw_kube_watch_decoder_fini(&d);
    }
    /* the callback stops the feed */
    tw_kube_watch_decoder_t d;
    seen_t s = {.stop_after = 1};
    tw_error_t err;
    tw_kube_watch_decoder_init(&d, 0);
    assert_int_equal(tw_kube_watch_decoder_feed(&d, stream, sizeof(stream) - 1, collect, &s, &err),
                     TW_ECANCELED);
    assert_int_equal(s.n, 1);
    tw_kube_watch_decoder_fini(&d);
    /* a bad line and an over-long line */
    tw_kube_watch_decoder_init(&d, 64);
    memset(&s, 0, sizeof(s));
    assert_int_equal(tw_kube_watch_decoder_feed(&d, "nope\n", 5, collect, &s, &err), TW_EPARSE);
    char longline[100];
    memset(longline, 'x', sizeof(longline));
    assert_int_equal(tw_kube_watch_decoder_feed(&d, longline, sizeof(longline), collect, &s, &err),
                     TW_ELIMIT);
    assert_string_equal(err.msg, "watch event: a line longer than 64 bytes");
    assert_int_equal(s.n, 0);
    tw_kube_watch_decoder_fini(&d);
}

static void test_status_error(void **state)
{
    (void)state;
    tw_error_t err;
    const char *st = "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"status\":\"Failure\","
                     "\"message\":\"leases.coordination.k8s.io \\\"tw\\\" not found\","
                     "\"reason\":\"NotFound\",\"code\":404}";
    assert_int_equal(tw_kube_status_error(404, st, strlen(st), "GET x", &err), TW_ENOTFOUND);
    assert_string_equal(err.msg, "GET x: Error from server (NotFound): "
                                 "leases.coordination.k8s.io \"tw\" not found");
    assert_int_equal(tw_kube_status_error(410, "", 0, "w", &err), TW_ETRANSIENT);
    assert_int_equal(tw_kube_status_error(409, "", 0, "w", &err), TW_ECONFLICT);
    assert_string_equal(err.msg, "w: server answered HTTP 409");
}

static void test_config_load(void **state)
{
    (void)state;
    char dir[] = "/tmp/tw-kube-cfg-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[300], tok[300];
    snprintf(path, sizeof(path), "%s/config", dir);
    snprintf(tok, sizeof(tok), "%s/tok", dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("apiVersion: v1\nkind: Config\ncurrent-context: c\n"
          "clusters:\n- name: k\n  cluster:\n    server: https://10.0.0.1:6443//\n"
          "users:\n- name: u\n  user:\n    tokenFile: tok\n"
          "contexts:\n- name: c\n  context:\n    cluster: k\n    user: u\n    namespace: mon\n",
          f);
    fclose(f);
    tw_kube_config_t kc;
    tw_error_t err;
    assert_int_equal(tw_kube_config_load(path, NULL, NULL, NULL, &kc, &err), 0);
    assert_string_equal(kc.server, "https://10.0.0.1:6443");
    assert_string_equal(kc.namespace, "mon");
    assert_string_equal(kc.token_file, tok); /* relative to the kubeconfig's folder */
    tw_kube_config_fini(&kc);
    assert_int_equal(tw_kube_config_load(path, NULL, NULL, "http://127.0.0.1:8080/", &kc, &err), 0);
    assert_string_equal(kc.server, "http://127.0.0.1:8080");
    tw_kube_config_fini(&kc);
    assert_int_equal(tw_kube_config_load(path, NULL, NULL, "ftp://x", &kc, &err), TW_EINVAL);
    assert_string_equal(err.msg, "kubernetes: server ftp://x is not an http(s) URL");
    assert_null(kc.server);
    assert_int_equal(tw_kube_config_load(path, "other", NULL, NULL, &kc, &err), TW_EINVAL);
    assert_non_null(strstr(err.msg, "context was not found for specified context: other"));
    /* in-cluster without a token file fails like client-go */
    if (getenv("KUBERNETES_SERVICE_HOST") == NULL) {
        assert_int_equal(tw_kube_config_load(NULL, NULL, dir, NULL, &kc, &err), TW_ENOTFOUND);
    }
    unlink(path);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_line_parse),
        cmocka_unit_test(test_decoder),
        cmocka_unit_test(test_status_error),
        cmocka_unit_test(test_config_load),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
