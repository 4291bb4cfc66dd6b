/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_hpa_manifest.c - autoscaling/v2 HorizontalPodAutoscaler manifests (hpa_manifest.c) and
 * Kubernetes quantities (hpa_quantity.c): the founding document's api-hpa parsed exactly, the API
 * server's defaults, every validation message with its field path and file position, decoding
 * errors, multi-document files.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "autoscaler/hpa/hpa.h"

/* ---- quantities --------------------------------------------------------------------------- */

static void expect_quantity(const char *text, int sign, int64_t milli)
{
    tw_hpa_quantity_t q;
    tw_error_t err;
    tw_error_clear(&err);
    int rc = tw_hpa_quantity_parse(text, strlen(text), &q, &err);
    if (rc != 0 || q.sign != sign || q.milli != milli) {
        print_message("quantity \"%s\": rc=%d sign=%d milli=%lld (%s)\n", text, rc, q.sign,
                      (long long)q.milli, err.msg);
    }
    assert_int_equal(rc, 0);
    assert_int_equal(q.sign, sign);
    assert_true(q.milli == milli);
}

static void expect_quantity_error(const char *text, int code, const char *msg)
{
    tw_hpa_quantity_t q;
    tw_error_t err;
    tw_error_clear(&err);
    int rc = tw_hpa_quantity_parse(text, strlen(text), &q, &err);
    if (rc != code) {
        print_message("quantity \"%s\": rc=%d (%s)\n", text, rc, err.msg);
    }
    assert_int_equal(rc, code);
    assert_string_equal(err.msg, msg);
}

static const char fmt_msg[] = "quantities must match the regular expression "
                              "'^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'";

static void test_quantity_values(void **state)
{
    (void)state;
    expect_quantity("500m", 1, 500);
    expect_quantity("1", 1, 1000);
    expect_quantity("1.5", 1, 1500);
    expect_quantity(".5", 1, 500);
    expect_quantity("1.", 1, 1000);
    expect_quantity("100Mi", 1, INT64_C(104857600000));
    expect_quantity("1Gi", 1, INT64_C(1073741824000));
    expect_quantity("1.5Ki", 1, 1536000);
    expect_quantity("0.5Mi", 1, 524288000);
    expect_quantity("0.0001Ki", 1, 103); /* 102.4 milli, rounded up */
    expect_quantity("1k", 1, 1000000);
    expect_quantity("2M", 1, INT64_C(2000000000));
    expect_quantity("1e3", 1, 1000000);
    expect_quantity("1E+3", 1, 1000000);
    expect_quantity("25e-1", 1, 2500);
    expect_quantity("1e-3", 1, 1);
    expect_quantity("5e-4", 1, 1); /* MilliValue rounds up */
    expect_quantity("2u", 1, 1);
    expect_quantity("1n", 1, 1);
    expect_quantity("0.0001", 1, 1);
    expect_quantity("1.0001", 1, 1001);
    expect_quantity("-1.5m", -1, -2); /* away from zero */
    expect_quantity("-3", -1, -3000);
    expect_quantity("+7", 1, 7000);
    expect_quantity(" 250m ", 1, 250);
    expect_quantity("0", 0, 0);
    expect_quantity("000", 0, 0);
    expect_quantity("-0", 0, 0);
    expect_quantity("0.000", 0, 0);
    expect_quantity("0Mi", 0, 0);
    expect_quantity("+", 0, 0); /* upstream's scanner accepts these as zero */
    expect_quantity(".", 0, 0);
    expect_quantity("Ki", 0, 0);
    expect_quantity("9223372036854775m", 1, INT64_C(9223372036854775));
    expect_quantity("9223372036854775.807", 1, INT64_C(9223372036854775807));
    /* Go truncates the exponent to int32: 4294967296 + 3 -> 3 */
    expect_quantity("1e4294967299", 1, 1000000);

    tw_hpa_quantity_t q;
    assert_int_equal(tw_hpa_quantity_parse("0.05", 4, &q, NULL), 0);
    assert_true(q.approx > 0.0499999 && q.approx < 0.0500001);
    assert_int_equal(tw_hpa_quantity_parse("1Ki", 3, &q, NULL), 0);
    assert_true(q.approx == 1024.0);
}

static void test_quantity_errors(void **state)
{
    (void)state;
    expect_quantity_error("", TW_EPARSE, fmt_msg);
    expect_quantity_error("   ", TW_EPARSE, fmt_msg);
    expect_quantity_error("abc", TW_EPARSE, fmt_msg);
    expect_quantity_error("1x", TW_EPARSE, fmt_msg);
    expect_quantity_error("1.2.3", TW_EPARSE, fmt_msg);
    expect_quantity_error("1Kib", TW_EPARSE, fmt_msg);
    expect_quantity_error("1 m", TW_EPARSE, fmt_msg);
    expect_quantity_error("1KM", TW_EPARSE, "unable to parse quantity's suffix");
    expect_quantity_error("1e", TW_EPARSE, "unable to parse quantity's suffix");
    expect_quantity_error("1ki", TW_EPARSE, "unable to parse quantity's suffix");
    expect_quantity_error("1ee3", TW_EPARSE, "unable to parse quantity's suffix");
    expect_quantity_error("1e-", TW_EPARSE, "unable to parse quantity's suffix");
    expect_quantity_error("1m3", TW_EPARSE, "unable to parse quantity's suffix");
    expect_quantity_error("1e99999999999999999999", TW_EPARSE, "unable to parse quantity's suffix");
    expect_quantity_error("10E", TW_ELIMIT,
                          "quantity too large: its value in milli-units does not fit in 64 bits");
    expect_quantity_error("9223372036854775.808", TW_ELIMIT,
                          "quantity too large: its value in milli-units does not fit in 64 bits");
    expect_quantity_error("8Ei", TW_ELIMIT,
                          "quantity too large: its value in milli-units does not fit in 64 bits");
    expect_quantity_error("1.0000000000000000001Ki", TW_ELIMIT,
                          "quantity with a binary suffix has more than 18 significant digits");
}

/* ---- manifests ---------------------------------------------------------------------------- */

static void test_api_hpa_seed(void **state)
{
    (void)state;
    tw_hpa_manifest_list_t l = {NULL, 0};
    tw_error_t err;
    tw_error_clear(&err);
    const char *path = TW_SHARED "/conformance/fixtures/kubernetes/seed/api-hpa.yaml";
    int rc = tw_hpa_manifests_load(path, NULL, &l, &err);
    if (rc != 0) {
        print_message("%s:%d:%d: %s\n", err.file, err.line, err.col, err.msg);
    }
    assert_int_equal(rc, 0);
    assert_int_equal(l.n, 1);
    const tw_hpa_manifest_t *m = l.items[0];
    assert_string_equal(m->name, "api-hpa");
    assert_string_equal(m->namespace, "ecommerce");
    assert_string_equal(m->target.api_version, "apps/v1");
    assert_string_equal(m->target.kind, "Deployment");
    assert_string_equal(m->target.name, "api");
    assert_string_equal(m->file, path);
    assert_int_equal(m->line, 2);
    assert_int_equal(m->col, 1);
    assert_true(m->spec.has_min_replicas);
    assert_int_equal(m->spec.min_replicas, 3);
    assert_int_equal(m->spec.max_replicas, 20);
    assert_null(m->spec.behavior);
    assert_false(m->has_behavior);
    assert_int_equal(m->spec.n_metrics, 2);
    const tw_hpa_metric_input_t *cpu = &m->spec.metrics[0], *mem = &m->spec.metrics[1];
    assert_int_equal(cpu->type, TW_HPA_METRIC_RESOURCE);
    assert_string_equal(cpu->name, "cpu");
    assert_null(cpu->container);
    assert_int_equal(cpu->target_type, TW_HPA_TARGET_UTILIZATION);
    assert_int_equal(cpu->target_utilization, 70);
    assert_int_equal(mem->type, TW_HPA_METRIC_RESOURCE);
    assert_string_equal(mem->name, "memory");
    assert_int_equal(mem->target_type, TW_HPA_TARGET_UTILIZATION);
    assert_int_equal(mem->target_utilization, 80);
    assert_null(mem->fetch_error);
    assert_string_equal(m->metric_info[0].selector, "");
    tw_hpa_manifest_list_fini(&l);
    assert_int_equal(l.n, 0);
}

static const char head[] = "apiVersion: autoscaling/v2\n"
                           "kind: HorizontalPodAutoscaler\n"
                           "metadata:\n"
                           "  name: web\n"
                           "spec:\n"
                           "  scaleTargetRef:\n"
                           "    apiVersion: apps/v1\n"
                           "    kind: StatefulSet\n"
                           "    name: web\n";
/* head has 9 lines: a body's first line is line 10. */

/* Parses head + body; returns rc, err filled. */
static int parse_body(const char *body, bool gate0, tw_hpa_manifest_list_t *l, tw_error_t *err)
{
    char doc[4096];
    snprintf(doc, sizeof(doc), "%s%s", head, body);
    tw_hpa_manifest_options_t o = {.gate_scale_to_zero = gate0};
    tw_error_clear(err);
    memset(l, 0, sizeof(*l));
    return tw_hpa_manifests_parse(doc, strlen(doc), "hpa.yaml", &o, l, err);
}

static void expect_error_gate(const char *body, bool gate0, int line, int col, const char *msg)
{
    tw_hpa_manifest_list_t l;
    tw_error_t err;
    int rc = parse_body(body, gate0, &l, &err);
    if (rc == 0 || err.line != line || err.col != col || strcmp(err.msg, msg) != 0) {
        print_message("got rc=%d %s:%d:%d: %s\nwant %d:%d: %s\n", rc, err.file, err.line, err.col,
                      err.msg, line, col, msg);
    }
    assert_int_equal(rc, TW_EINVAL);
    assert_string_equal(err.file, "hpa.yaml");
    assert_string_equal(err.msg, msg);
    assert_int_equal(err.line, line);
    assert_int_equal(err.col, col);
    assert_int_equal(l.n, 0);
}

static void expect_error(const char *body, int line, int col, const char *msg)
{
    expect_error_gate(body, false, line, col, msg);
}

static const char cpu70[] = "  metrics:\n"
                            "  - type: Resource\n"
                            "    resource:\n"
                            "      name: cpu\n"
                            "      target: {type: Utilization, averageUtilization: 70}\n";

static void test_validation_replicas(void **state)
{
    (void)state;
    char body[1024];
    snprintf(body, sizeof(body), "  minReplicas: 0\n  maxReplicas: 5\n%s", cpu70);
    expect_error(body, 10, 16,
                 "spec.minReplicas: Invalid value: 0: must be greater than or equal to 1");
    /* with HPAScaleToZero, 0 is allowed but needs an Object or External metric */
    expect_error_gate(body, true, 13, 3,
                      "spec.metrics: Forbidden: must specify at least one Object or External "
                      "metric to support scaling to zero replicas");
    snprintf(body, sizeof(body), "  minReplicas: 3\n  maxReplicas: 1\n%s", cpu70);
    expect_error(body, 11, 16,
                 "spec.maxReplicas: Invalid value: 1: must be greater than or equal to "
                 "`minReplicas`");
    snprintf(body, sizeof(body), "  minReplicas: -2\n  maxReplicas: 1\n%s", cpu70);
    expect_error(body, 10, 16,
                 "spec.minReplicas: Invalid value: -2: must be greater than or equal to 1");
    /* maxReplicas absent is 0; the spec mapping is the position */
    expect_error(cpu70, 6, 3, "spec.maxReplicas: Invalid value: 0: must be greater than 0");
    /* a decoding error later in the document wins over a validation error earlier */
    snprintf(body, sizeof(body), "  minReplicas: 0\n  maxReplicas: 5\n%s  behavior:\n    up: {}\n",
             cpu70);
    expect_error(body, 18, 5,
                 "unknown key \"up\" in spec.behavior (expected one of scaleUp, scaleDown)");
    expect_error("  maxReplicas: three\n", 10, 16,
                 "spec.maxReplicas: expected a 32-bit integer, got \"three\"");
    expect_error("  maxReplicas: 2147483648\n", 10, 16,
                 "spec.maxReplicas: expected a 32-bit integer, got \"2147483648\"");
    expect_error("  maxReplicas: 2\n  replicas: 3\n", 11, 3,
                 "unknown key \"replicas\" in spec (expected one of scaleTargetRef, minReplicas, "
                 "maxReplicas, metrics, behavior)");
}

static void test_validation_metrics(void **state)
{
    (void)state;
    expect_error("  maxReplicas: 5\n"
                 "  metrics:\n"
                 "  - type: Resource\n"
                 "    resource:\n"
                 "      name: cpu\n"
                 "      target:\n"
                 "        type: Utilization\n",
                 16, 9,
                 "spec.metrics[0].resource.target.averageUtilization: Required value: must set "
                 "either a target raw value or a target utilization");
    expect_error("  maxReplicas: 5\n"
                 "  metrics:\n"
                 "  - type: Resource\n"
                 "    resource:\n"
                 "      name: cpu\n"
                 "      target: {type: Utilization, averageUtilization: 0}\n",
                 15, 55,
                 "spec.metrics[0].resource.target.averageUtilization: Invalid value: 0: must be "
                 "greater than 0");
    expect_error("  maxReplicas: 5\n"
                 "  metrics:\n"
                 "  - type: Resource\n"
                 "    resource:\n"
                 "      name: memory\n"
                 "      target: {type: Percent, averageUtilization: 50}\n",
                 15, 22,
                 "spec.metrics[0].resource.target.type: Invalid value: \"Percent\": must be "
                 "either Utilization, Value, or AverageValue");
    expect_error("  maxReplicas: 5\n"
                 "  metrics:\n"
                 "  - type: Resource\n"
                 "    resource:\n"
                 "      name: memory\n"
                 "      target: {type: AverageValue, averageValue: 1Gi, averageUtilization: 5}\n",
                 15, 50,
                 "spec.metrics[0].resource.target.averageValue: Forbidden: may not set both a "
                 "target raw value and a target utilization");
    expect_error("  maxReplicas: 5\n"
                 "  metrics:\n"
                 "  - type: Foo\n",
                 12, 11,
                 "spec.metrics[0].type: Unsupported value: \"Foo\": supported values: "
                 "\"ContainerResource\", \"External\", \"Object\", \"Pods\", \"Resource\"");
    expect_error("  maxReplicas: 5\n"
                 "  metrics:\n"
                 "  - resource: {name: cpu, target: {type: Utilization, averageUtilization: 5}}\n",
                 12, 5, "spec.metrics[0].type: Required value: must specify a metric source type");
    expect_error("  maxReplicas: 5\n"
                 "  metrics:\n"
                 "  - type: Pods\n"
                 "    resource: {name: cpu, target: {type: Utilization, averageUtilization: 5}}\n",
                 12, 5,
                 "spec.metrics[0].pods: Required value: must populate information for the given "
                 "metric source");
    expect_error("  maxReplicas: 5\n"
                 "  metrics:\n"
                 "  - type: Pods\n"
                 "    pods:\n"
                 "      metric: {name: rps}\n"
                 "      target: {type: AverageValue, averageValue: \"-1\"}\n"
                 "    resource: {name: cpu, target: {type: Utilization, averageUtilization: 5}}\n",
                 15, 50,
                 "spec.metrics[0].pods.target.averageValue: Invalid value: -1: must be positive");
    expect_error("  maxReplicas: 5\n"
                 "  metrics:\n"
                 "  - type: Pods\n"
                 "    pods:\n"
                 "      metric: {name: rps}\n"
                 "      target: {type: AverageValue, averageValue: 10}\n"
                 "    resource: {name: cpu, target: {type: Utilization, averageUtilization: 5}}\n",
                 16, 15,
                 "spec.metrics[0].resource: Forbidden: must populate the given metric source "
                 "only");
    expect_error("  maxReplicas: 5\n"
                 "  metrics:\n"
                 "  - type: Pods\n"
                 "    pods:\n"
                 "      metric: {name: a/b}\n"
                 "      target: {type: AverageValue, averageValue: 10}\n",
                 14, 22,
                 "spec.metrics[0].pods.metric.name: Invalid value: \"a/b\": may not contain '/'");
    expect_error("  maxReplicas: 5\n"
                 "  metrics:\n"
                 "  - type: Pods\n"
                 "    pods:\n"
                 "      metric: {name: rps}\n"
                 "      target: {type: Value, value: 10}\n",
                 15, 15,
                 "spec.metrics[0].pods.target.averageValue: Required value: must specify a "
                 "positive target averageValue");
    expect_error("  maxReplicas: 5\n"
                 "  metrics:\n"
                 "  - type: External\n"
                 "    external:\n"
                 "      metric: {name: queue_depth}\n"
                 "      target: {type: Value, value: 100, averageValue: 10}\n",
                 15, 36,
                 "spec.metrics[0].external.target.value: Forbidden: may not set both a target "
                 "value for metric and a per-pod target");
    expect_error("  maxReplicas: 5\n"
                 "  metrics:\n"
                 "  - type: Object\n"
                 "    object:\n"
                 "      describedObject: {apiVersion: networking.k8s.io/v1, kind: Ingress}\n"
                 "      metric: {name: requests}\n"
                 "      target: {type: Value, value: 2k}\n",
                 14, 24, "spec.metrics[0].object.describedObject.name: Required value");
    expect_error("  maxReplicas: 5\n"
                 "  metrics:\n"
                 "  - type: ContainerResource\n"
                 "    containerResource:\n"
                 "      name: gpu\n"
                 "      container: app\n"
                 "      target: {type: Utilization, averageUtilization: 60}\n",
                 14, 13,
                 "spec.metrics[0].containerResource.name: Invalid value: \"gpu\": must be a "
                 "standard resource for containers");
    expect_error("  maxReplicas: 5\n"
                 "  metrics:\n"
                 "  - type: ContainerResource\n"
                 "    containerResource:\n"
                 "      name: cpu\n"
                 "      target: {type: Utilization, averageUtilization: 60}\n",
                 14, 7,
                 "spec.metrics[0].containerResource.container: Required value: must specify a "
                 "container");
    expect_error("  maxReplicas: 5\n"
                 "  metrics:\n"
                 "  - type: ContainerResource\n"
                 "    containerResource:\n"
                 "      name: cpu\n"
                 "      container: App\n"
                 "      target: {type: Utilization, averageUtilization: 60}\n",
                 15, 18,
                 "spec.metrics[0].containerResource.container: Invalid value: \"App\": a "
                 "lowercase RFC 1123 label must consist of lower case alphanumeric characters or "
                 "'-', and must start and end with an alphanumeric character (e.g. 'my-name',  "
                 "or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')");
    expect_error("  maxReplicas: 5\n"
                 "  metrics:\n"
                 "  - type: Resource\n"
                 "    resource: {name: memory, target: {type: AverageValue, averageValue: 1Gb}}\n",
                 13, 73,
                 "spec.metrics[0].resource.target.averageValue: invalid quantity \"1Gb\": "
                 "quantities must match the regular expression "
                 "'^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'");
}

static void test_validation_target_ref_and_metadata(void **state)
{
    (void)state;
    const char *doc = "apiVersion: autoscaling/v2\n"
                      "kind: HorizontalPodAutoscaler\n"
                      "metadata: {name: Web_1}\n"
                      "spec:\n"
                      "  scaleTargetRef: {kind: ReplicaSet}\n"
                      "  maxReplicas: 3\n";
    tw_hpa_manifest_list_t l = {NULL, 0};
    tw_error_t err;
    tw_error_clear(&err);
    assert_int_equal(tw_hpa_manifests_parse(doc, strlen(doc), "x.yaml", NULL, &l, &err), TW_EINVAL);
    assert_string_equal(
        err.msg, "metadata.name: Invalid value: \"Web_1\": a lowercase RFC 1123 subdomain must "
                 "consist of lower case alphanumeric characters, '-' or '.', and must start and "
                 "end with an alphanumeric character (e.g. 'example.com', regex used for "
                 "validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)"
                 "*')");
    assert_int_equal(err.line, 3);
    assert_int_equal(err.col, 18);

    doc = "apiVersion: autoscaling/v2\n"
          "kind: HorizontalPodAutoscaler\n"
          "metadata: {name: web, labels: {app: web}}\n"
          "spec:\n"
          "  scaleTargetRef: {kind: ReplicaSet}\n"
          "  maxReplicas: 3\n";
    assert_int_equal(tw_hpa_manifests_parse(doc, strlen(doc), "x.yaml", NULL, &l, &err), TW_EINVAL);
    assert_string_equal(err.msg, "spec.scaleTargetRef.name: Required value");
    assert_int_equal(err.line, 5);
    assert_int_equal(err.col, 19);

    doc = "apiVersion: autoscaling/v2\n"
          "kind: HorizontalPodAutoscaler\n"
          "metadata: {name: web}\n"
          "spec:\n"
          "  scaleTargetRef: {kind: ReplicaSet, name: web}\n"
          "  maxReplicas: 3\n";
    assert_int_equal(tw_hpa_manifests_parse(doc, strlen(doc), "x.yaml", NULL, &l, &err), TW_EINVAL);
    assert_string_equal(err.msg, "spec.scaleTargetRef.kind: Unsupported value: \"ReplicaSet\": "
                                 "supported values: \"Deployment\", \"StatefulSet\"");
    assert_int_equal(err.line, 5);
    assert_int_equal(err.col, 26);

    doc = "apiVersion: autoscaling/v1\n"
          "kind: HorizontalPodAutoscaler\n";
    assert_int_equal(tw_hpa_manifests_parse(doc, strlen(doc), "x.yaml", NULL, &l, &err), TW_EINVAL);
    assert_string_equal(err.msg, "apiVersion: expected \"autoscaling/v2\", got "
                                 "\"autoscaling/v1\"");
    assert_int_equal(err.line, 1);
    assert_int_equal(err.col, 13);

    doc = "apiVersion: autoscaling/v2\n"
          "kind: HorizontalPodAutoscaler\n"
          "spec: {maxReplicas: 2, scaleTargetRef: {kind: Deployment, name: a}}\n";
    assert_int_equal(tw_hpa_manifests_parse(doc, strlen(doc), "x.yaml", NULL, &l, &err), TW_EINVAL);
    assert_string_equal(err.msg, "metadata.name: Required value: name or generateName is required");
    assert_int_equal(err.line, 1);
    assert_int_equal(err.col, 1);
}

static void test_validation_behavior(void **state)
{
    (void)state;
    const char *base = "  maxReplicas: 5\n  behavior:\n";
    char body[1024];
    snprintf(body, sizeof(body), "%s    scaleDown:\n      policies: []\n", base);
    expect_error(body, 13, 17,
                 "spec.behavior.scaleDown.policies: Required value: must specify at least one "
                 "Policy");
    snprintf(body, sizeof(body), "%s    scaleUp: {selectPolicy: Avg}\n", base);
    expect_error(body, 12, 29,
                 "spec.behavior.scaleUp.selectPolicy: Unsupported value: \"Avg\": supported "
                 "values: \"Disabled\", \"Max\", \"Min\"");
    snprintf(body, sizeof(body), "%s    scaleUp: {stabilizationWindowSeconds: 3601}\n", base);
    expect_error(body, 12, 43,
                 "spec.behavior.scaleUp.stabilizationWindowSeconds: Invalid value: 3601: must be "
                 "less than or equal to 3600");
    snprintf(body, sizeof(body), "%s    scaleDown: {stabilizationWindowSeconds: -1}\n", base);
    expect_error(body, 12, 45,
                 "spec.behavior.scaleDown.stabilizationWindowSeconds: Invalid value: -1: must be "
                 "greater than or equal to zero");
    snprintf(
        body, sizeof(body),
        "%s    scaleDown:\n      policies:\n      - {type: Pods, value: 1, periodSeconds: 15}\n"
        "      - {type: Pods, value: 1, periodSeconds: 1801}\n",
        base);
    expect_error(body, 15, 9,
                 "spec.behavior.scaleDown.policies[1].periodSeconds: Invalid value: 1801: must "
                 "be less than or equal to 1800");
    snprintf(body, sizeof(body),
             "%s    scaleDown:\n      policies:\n      - {type: Replicas, value: 0}\n", base);
    expect_error(body, 14, 9,
                 "spec.behavior.scaleDown.policies[0].type: Unsupported value: \"Replicas\": "
                 "supported values: \"Percent\", \"Pods\"");
    snprintf(body, sizeof(body), "%s    scaleDown:\n      policies:\n      - {type: Pods}\n", base);
    expect_error(body, 14, 9,
                 "spec.behavior.scaleDown.policies[0].value: Invalid value: 0: must be greater "
                 "than zero");
    snprintf(body, sizeof(body), "%s    scaleUp: {tolerance: \"-0.1\"}\n", base);
    expect_error(body, 12, 26,
                 "spec.behavior.scaleUp.tolerance: Invalid value: -0.1: must be greater than or "
                 "equal to zero");
}

static void test_behavior_and_defaults(void **state)
{
    (void)state;
    tw_hpa_manifest_list_t l;
    tw_error_t err;
    int rc = parse_body("  minReplicas: 2\n"
                        "  maxReplicas: 10\n"
                        "  behavior:\n"
                        "    scaleUp:\n"
                        "      policies:\n"
                        "      - type: Percent\n"
                        "        value: 50\n"
                        "        periodSeconds: 60\n"
                        "      selectPolicy: Min\n"
                        "      tolerance: 0.05\n"
                        "    scaleDown:\n"
                        "      selectPolicy: Disabled\n",
                        false, &l, &err);
    if (rc != 0) {
        print_message("%d:%d: %s\n", err.line, err.col, err.msg);
    }
    assert_int_equal(rc, 0);
    const tw_hpa_manifest_t *m = l.items[0];
    assert_string_equal(m->namespace, "default");
    assert_string_equal(m->target.kind, "StatefulSet");
    /* no metrics: the API server's default, cpu at 80 % */
    assert_int_equal(m->spec.n_metrics, 1);
    assert_int_equal(m->spec.metrics[0].type, TW_HPA_METRIC_RESOURCE);
    assert_string_equal(m->spec.metrics[0].name, "cpu");
    assert_int_equal(m->spec.metrics[0].target_utilization, 80);
    assert_non_null(m->spec.behavior);
    const tw_hpa_scaling_rules_t *up = m->spec.behavior->scale_up;
    const tw_hpa_scaling_rules_t *down = m->spec.behavior->scale_down;
    assert_false(up->has_stabilization_window);
    assert_int_equal(up->select_policy, TW_HPA_SELECT_MIN);
    assert_int_equal(up->n_policies, 1);
    assert_int_equal(up->policies[0].type, TW_HPA_POLICY_PERCENT);
    assert_int_equal(up->policies[0].value, 50);
    assert_int_equal(up->policies[0].period_s, 60);
    assert_true(up->has_tolerance);
    assert_true(up->tolerance > 0.0499999 && up->tolerance < 0.0500001);
    assert_int_equal(down->select_policy, TW_HPA_SELECT_DISABLED);
    assert_null(down->policies); /* defaults: 100 % per 15 s */
    tw_hpa_scaling_rules_t r;
    tw_hpa_scaling_rules_resolve(down, false, 300, &r);
    assert_int_equal(r.stabilization_window_s, 300);
    assert_int_equal(r.n_policies, 1);
    assert_int_equal(r.policies[0].type, TW_HPA_POLICY_PERCENT);
    assert_int_equal(r.policies[0].value, 100);
    assert_int_equal(r.policies[0].period_s, 15);
    tw_hpa_manifest_list_fini(&l);
}

static void test_metric_kinds(void **state)
{
    (void)state;
    tw_hpa_manifest_list_t l;
    tw_error_t err;
    int rc = parse_body(
        "  minReplicas: 0\n"
        "  maxReplicas: 10\n"
        "  metrics:\n"
        "  - type: ContainerResource\n"
        "    containerResource: {name: cpu, container: app,\n"
        "                        target: {type: AverageValue, averageValue: 500m}}\n"
        "  - type: Pods\n"
        "    pods:\n"
        "      metric:\n"
        "        name: http_requests\n"
        "        selector:\n"
        "          matchLabels: {verb: GET}\n"
        "          matchExpressions:\n"
        "          - {key: code, operator: In, values: [\"200\", \"304\"]}\n"
        "          - {key: canary, operator: DoesNotExist}\n"
        "      target: {type: AverageValue, averageValue: \"1k\"}\n"
        "  - type: Object\n"
        "    object:\n"
        "      describedObject: {apiVersion: networking.k8s.io/v1, kind: Ingress, name: main}\n"
        "      metric: {name: requests_per_second}\n"
        "      target: {type: Value, value: 10k}\n"
        "  - type: External\n"
        "    external:\n"
        "      metric: {name: queue_messages_ready}\n"
        "      target: {type: AverageValue, averageValue: 30}\n",
        true, &l, &err);
    if (rc != 0) {
        print_message("%d:%d: %s\n", err.line, err.col, err.msg);
    }
    assert_int_equal(rc, 0);
    const tw_hpa_manifest_t *m = l.items[0];
    assert_int_equal(m->spec.min_replicas, 0);
    assert_int_equal(m->spec.n_metrics, 4);
    const tw_hpa_metric_input_t *x = m->spec.metrics;
    assert_int_equal(x[0].type, TW_HPA_METRIC_CONTAINER_RESOURCE);
    assert_string_equal(x[0].name, "cpu");
    assert_string_equal(x[0].container, "app");
    assert_int_equal(x[0].target_type, TW_HPA_TARGET_AVERAGE_VALUE);
    assert_int_equal(x[0].target_milli, 500);
    assert_int_equal(x[1].type, TW_HPA_METRIC_PODS);
    assert_string_equal(x[1].name, "http_requests");
    assert_int_equal(x[1].target_milli, 1000000);
    assert_string_equal(m->metric_info[1].selector, "verb=GET,code in (200,304),!canary");
    assert_int_equal(x[2].type, TW_HPA_METRIC_OBJECT);
    assert_int_equal(x[2].target_type, TW_HPA_TARGET_VALUE);
    assert_int_equal(x[2].target_milli, 10000000);
    assert_string_equal(m->metric_info[2].described_object.kind, "Ingress");
    assert_string_equal(m->metric_info[2].described_object.name, "main");
    assert_int_equal(x[3].type, TW_HPA_METRIC_EXTERNAL);
    assert_int_equal(x[3].target_type, TW_HPA_TARGET_AVERAGE_VALUE);
    assert_int_equal(x[3].target_milli, 30000);
    tw_hpa_manifest_list_fini(&l);
}

static void test_multi_document(void **state)
{
    (void)state;
    const char *doc = "# bundle\n"
                      "apiVersion: apps/v1\n"
                      "kind: Deployment\n"
                      "metadata: {name: web}\n"
                      "---\n"
                      "apiVersion: autoscaling/v2\n"
                      "kind: HorizontalPodAutoscaler\n"
                      "metadata: {name: a}\n"
                      "spec: {maxReplicas: 2, scaleTargetRef: {kind: Deployment, name: web}}\n"
                      "---\n"
                      "---\n"
                      "# the second\n"
                      "apiVersion: autoscaling/v2\n"
                      "kind: HorizontalPodAutoscaler\n"
                      "metadata: {name: b, namespace: prod}\n"
                      "spec: {maxReplicas: 4, scaleTargetRef: {kind: Deployment, name: web}}\n";
    tw_hpa_manifest_list_t l = {NULL, 0};
    tw_error_t err;
    tw_error_clear(&err);
    int rc = tw_hpa_manifests_parse(doc, strlen(doc), "b.yaml", NULL, &l, &err);
    if (rc != 0) {
        print_message("%d:%d: %s\n", err.line, err.col, err.msg);
    }
    assert_int_equal(rc, 0);
    assert_int_equal(l.n, 2);
    assert_string_equal(l.items[0]->name, "a");
    assert_int_equal(l.items[0]->line, 6);
    assert_string_equal(l.items[1]->name, "b");
    assert_string_equal(l.items[1]->namespace, "prod");
    assert_int_equal(l.items[1]->line, 13);
    assert_int_equal(l.items[1]->spec.max_replicas, 4);
    tw_hpa_manifest_list_fini(&l);

    /* an error in the second document is reported at the file's line */
    const char *bad = "apiVersion: autoscaling/v2\n"
                      "kind: HorizontalPodAutoscaler\n"
                      "metadata: {name: a}\n"
                      "spec: {maxReplicas: 2, scaleTargetRef: {kind: Deployment, name: web}}\n"
                      "---\n"
                      "apiVersion: autoscaling/v2\n"
                      "kind: HorizontalPodAutoscaler\n"
                      "metadata: {name: b}\n"
                      "spec: {maxReplicas: 0, scaleTargetRef: {kind: Deployment, name: web}}\n";
    assert_int_equal(tw_hpa_manifests_parse(bad, strlen(bad), "b.yaml", NULL, &l, &err), TW_EINVAL);
    assert_string_equal(err.msg, "spec.maxReplicas: Invalid value: 0: must be greater than 0");
    assert_int_equal(err.line, 9);
    assert_int_equal(err.col, 21);

    /* a YAML syntax error, too */
    const char *syn = "kind: Service\n---\nkind: [\n";
    assert_int_equal(tw_hpa_manifests_parse(syn, strlen(syn), "b.yaml", NULL, &l, &err), TW_EPARSE);
    assert_int_equal(err.line, 4);

    const char *dup = "apiVersion: autoscaling/v2\n"
                      "kind: HorizontalPodAutoscaler\n"
                      "metadata: {name: a}\n"
                      "spec: {maxReplicas: 2, scaleTargetRef: {kind: Deployment, name: web}}\n"
                      "---\n"
                      "apiVersion: autoscaling/v2\n"
                      "kind: HorizontalPodAutoscaler\n"
                      "metadata: {name: a, namespace: default}\n"
                      "spec: {maxReplicas: 2, scaleTargetRef: {kind: Deployment, name: web}}\n";
    assert_int_equal(tw_hpa_manifests_parse(dup, strlen(dup), "b.yaml", NULL, &l, &err), TW_EINVAL);
    assert_string_equal(err.msg, "duplicate HorizontalPodAutoscaler default/a (first at line 1)");
    assert_int_equal(err.line, 6);

    const char *none = "kind: Service\n";
    assert_int_equal(tw_hpa_manifests_parse(none, strlen(none), "b.yaml", NULL, &l, &err),
                     TW_EINVAL);
    assert_string_equal(err.msg, "no HorizontalPodAutoscaler manifest in the file");
    assert_int_equal(l.n, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_quantity_values),
        cmocka_unit_test(test_quantity_errors),
        cmocka_unit_test(test_api_hpa_seed),
        cmocka_unit_test(test_validation_replicas),
        cmocka_unit_test(test_validation_metrics),
        cmocka_unit_test(test_validation_target_ref_and_metadata),
        cmocka_unit_test(test_validation_behavior),
        cmocka_unit_test(test_behavior_and_defaults),
        cmocka_unit_test(test_metric_kinds),
        cmocka_unit_test(test_multi_document),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
