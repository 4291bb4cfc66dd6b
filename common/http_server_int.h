/* SPDX-License-Identifier: Apache-2.0 */
/*
 * http_server_int.h - pieces of the HTTP server that tests and fuzz targets reach directly: the
 * application/x-www-form-urlencoded body parser and the listen-address splitter. Nothing
 * outside common/http_server.c and tests includes this file.
 *
 * Pure functions; thread-safe on distinct objects.
 */
#ifndef TW_COMMON_HTTP_SERVER_INT_H
#define TW_COMMON_HTTP_SERVER_INT_H

#include <stddef.h>

#include "error.h"

/*
 * Decoded form arguments. All strings point into store, which the form owns; they stay valid
 * until tw_http_form_fini().
 */
typedef struct tw_http_form_arg {
    const char *name;
    const char *value;
} tw_http_form_arg_t;

typedef struct tw_http_form {
    char *store;              /* decoded copy of the body */
    tw_http_form_arg_t *args; /* in body order */
    size_t n;
    size_t cap;
} tw_http_form_t;

/*
 * Parses data[0..len) like Go's url.ParseQuery (what Prometheus' API reads form posts with):
 * pairs separated by '&', name and value split at the first '=' (a missing '=' gives an empty
 * value), '+' is a space, "%XX" a byte. Empty pairs are skipped, and so are pairs Go rejects
 * (a bad %-escape, a ';' anywhere in the pair). f must be zeroed or finished before; it is
 * replaced.
 */
void tw_http_form_parse(tw_http_form_t *f, const char *data, size_t len);

/* The first value of name, or NULL. */
const char *tw_http_form_get(const tw_http_form_t *f, const char *name);

/* Frees what the form holds and zeroes it. NULL is a no-op. */
void tw_http_form_fini(tw_http_form_t *f);

/*
 * Splits a listen address like Go's net.SplitHostPort: "host:port", "[v6]:port" or ":port"
 * (host ""). host and port receive the pieces (NUL-terminated, truncated to their sizes is an
 * error). The port must be a decimal number 0..65535. Returns 0 or TW_EINVAL naming addr.
 */
int tw_http_listen_split(const char *addr, char *host, size_t hostsz, char *port, size_t portsz,
                         tw_error_t *err);

#endif
