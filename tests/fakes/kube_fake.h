/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kube_fake.h - the pieces of the fake Kubernetes API server (tests/fakes/) that are plain
 * functions over JSON values: patch application (JSON merge patch, JSON patch, strategic merge
 * patch), label and field selectors, and the YAML/JSON seed reader. kube_fake.c holds the HTTP
 * side and the object store. Nothing here does I/O except tw_kfake_yaml_load(), which reads one
 * file. All functions are thread-safe on distinct values.
 *
 * This is test code: it models the parts of kube-apiserver that tidewatch's Kubernetes driver
 * and kubectl exercise, not the whole API (see README.md in this folder for the limits).
 */
#ifndef TW_TESTS_KUBE_FAKE_H
#define TW_TESTS_KUBE_FAKE_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

/* Room for a one-line error message from the functions below. */
#define TW_KFAKE_MSG 256

/*
 * Applies an RFC 7386 JSON merge patch to target (borrowed) and returns the result as a new
 * reference: target itself is not modified. A null member of patch deletes the key; a
 * non-object patch replaces the whole value.
 */
json_t *tw_kfake_patch_merge(const json_t *target, const json_t *patch);

/*
 * Applies an RFC 6902 JSON patch (an array of operations: add, remove, replace, move, copy,
 * test) to a copy of target. Returns the new value, or NULL with msg filled (a missing path, a
 * failed test, a malformed operation).
 */
json_t *tw_kfake_patch_json(const json_t *target, const json_t *ops, char msg[TW_KFAKE_MSG]);

/*
 * Applies a Kubernetes strategic merge patch to a copy of target: a merge patch in which lists
 * of objects known to have a merge key (containers and env by name, ports by containerPort or
 * port, conditions by type, volumeMounts by mountPath, ...) are merged element by element, with
 * the directives $patch (replace, delete, merge), $retainKeys, $deleteFromPrimitiveList/<key>
 * and $setElementOrder/<key> (accepted and ignored). Merge keys are looked up by field name,
 * not by the Go type as kube-apiserver does: good enough for the core types tests touch.
 * Returns the new value, or NULL with msg filled.
 */
json_t *tw_kfake_patch_strategic(const json_t *target, const json_t *patch, char msg[TW_KFAKE_MSG]);

/* A parsed label or field selector. */
typedef struct tw_kfake_selector tw_kfake_selector_t;

/*
 * Parses a label selector in the syntax of k8s.io/apimachinery/pkg/labels (`a=b`, `a==b`,
 * `a!=b`, `a in (x,y)`, `a notin (x)`, `a`, `!a`, `a>1`, `a<1`, comma-separated, all must
 * hold) or, with field set, a field selector (`path=v`, `path==v`, `path!=v`, where path is a
 * dotted JSON path such as spec.nodeName). s may be NULL or empty: matches everything.
 * Returns 0 and *out (free with tw_kfake_selector_free()), or -1 with msg filled.
 */
int tw_kfake_selector_parse(const char *s, bool field, tw_kfake_selector_t **out,
                            char msg[TW_KFAKE_MSG]);
/* Whether obj (a whole Kubernetes object; borrowed) satisfies every requirement of sel. */
bool tw_kfake_selector_match(const tw_kfake_selector_t *sel, const json_t *obj);
/* NULL is a no-op. */
void tw_kfake_selector_free(tw_kfake_selector_t *sel);

/*
 * Formats a metav1.LabelSelector object ({matchLabels, matchExpressions}) as the selector
 * string kube-apiserver puts in a Scale's status.selector: requirements sorted by key, set
 * values sorted ("app=web,tier in (a,b)"). Returns a malloc'd string ("" for a NULL or empty
 * selector).
 */
char *tw_kfake_selector_format(const json_t *label_selector);

/*
 * Reads a YAML (or JSON, which is YAML) file of one or more documents and appends each
 * non-empty document, converted to JSON with YAML 1.2 core-schema scalars (plain null/~,
 * true/false, integers and floats get their JSON type; everything quoted stays a string), to
 * the array docs. A document of kind `List` is flattened into its items. Returns 0, or -1 with
 * msg ("file:line:col: problem").
 */
int tw_kfake_yaml_load(const char *path, json_t *docs, char msg[TW_KFAKE_MSG]);

/* Formats a duration the way kubectl and the apiserver's printers show ages ("5m10s", "3d").
 * Negative durations below -1 s give "<invalid>". */
void tw_kfake_human_duration(long long seconds, char *out, size_t outsz);

/*
 * Decodes standard padded base64 (RFC 4648; how Go's encoding/json carries []byte, e.g. an
 * AdmissionReview's response.patch or a webhook's caBundle). Returns a malloc'd buffer with
 * *out_len bytes (plus a NUL not counted), or NULL for bad input.
 */
unsigned char *tw_kfake_base64_decode(const char *s, size_t *out_len);

#endif
