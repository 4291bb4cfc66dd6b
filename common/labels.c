/* SPDX-License-Identifier: Apache-2.0 */
/* labels.c - label pair helpers (see labels.h). Pure; thread-safe. */
#include "labels.h"

#include <string.h>

#include "hash.h"

void tw_labels_sort(tw_label_t *labels, size_t n)
{
    /* Insertion sort: label sets are small (typically < 16) and often nearly sorted. */
    for (size_t i = 1; i < n; i++) {
        tw_label_t x = labels[i];
        size_t j = i;
        while (j > 0 && strcmp(labels[j - 1].name, x.name) > 0) {
            labels[j] = labels[j - 1];
            j--;
        }
        labels[j] = x;
    }
}

uint64_t tw_labels_hash(const tw_label_t *labels, size_t n)
{
    uint64_t h = 0x7461646577617463ULL;
    for (size_t i = 0; i < n; i++) {
        /* Hash name and value separately so ("a","bc") and ("ab","c") differ. */
        h = tw_hash_combine(h, tw_hash64(labels[i].name, strlen(labels[i].name), 1));
        h = tw_hash_combine(h, tw_hash64(labels[i].value, strlen(labels[i].value), 2));
    }
    return h;
}

int tw_labels_compare(const tw_label_t *a, size_t na, const tw_label_t *b, size_t nb)
{
    size_t n = na < nb ? na : nb;
    for (size_t i = 0; i < n; i++) {
        int c = strcmp(a[i].name, b[i].name);
        if (c != 0) {
            return c;
        }
        c = strcmp(a[i].value, b[i].value);
        if (c != 0) {
            return c;
        }
    }
    return na < nb ? -1 : (na > nb ? 1 : 0);
}

const char *tw_labels_get(const tw_label_t *labels, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++) {
        if (strcmp(labels[i].name, name) == 0) {
            return labels[i].value;
        }
    }
    return NULL;
}

static bool is_alpha_(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

bool tw_metric_name_valid(const char *s)
{
    if (s == NULL || *s == '\0' || !(is_alpha_(*s) || *s == ':')) {
        return false;
    }
    for (s++; *s; s++) {
        if (!(is_alpha_(*s) || is_digit(*s) || *s == ':')) {
            return false;
        }
    }
    return true;
}

bool tw_label_name_valid(const char *s)
{
    if (s == NULL || *s == '\0' || !is_alpha_(*s)) {
        return false;
    }
    for (s++; *s; s++) {
        if (!(is_alpha_(*s) || is_digit(*s))) {
            return false;
        }
    }
    return true;
}
