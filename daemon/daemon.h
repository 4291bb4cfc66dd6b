/* SPDX-License-Identifier: Apache-2.0 */
/*
 * daemon.h - the running daemon: wiring of the collectors, the HTTP server and the routes, and
 * the lifecycle (start, reload, stop) driven by signals and /-/reload.
 *
 * Lifecycle: tw_daemon_new() loads and checks the configuration; tw_daemon_start() blocks
 * SIGHUP/SIGTERM/SIGINT in the calling thread (so every thread it starts inherits the mask and
 * the signals reach only the signalfd), ignores SIGPIPE, creates the storage directory and
 * takes its lock, starts the HTTP server, the collector loop and the pod fetcher;
 * tw_daemon_run() is the main loop: it waits on the signalfd and on requests from other threads
 * (a reload from /-/reload, a shutdown), performs them, and returns on SIGTERM, SIGINT or
 * tw_daemon_shutdown(); tw_daemon_free() stops everything and releases the lock.
 *
 * Thread model: new/start/run/free on one thread (the main thread); tw_daemon_shutdown() and
 * the HTTP handlers from any thread.
 */
#ifndef TW_DAEMON_DAEMON_H
#define TW_DAEMON_DAEMON_H

#include "common/error.h"
#include "config.h"

typedef struct tw_daemon_options {
    const char *config_file;         /* NULL: the embedded default; copied */
    tw_config_overrides_t overrides; /* command-line values; copied */
    bool enable_remote_write;        /* serve POST /api/v1/write */
    bool enable_admin_api;           /* serve POST /api/v1/admin/tsdb/snapshot */
} tw_daemon_options_t;

typedef struct tw_daemon tw_daemon_t;

/* Loads the configuration and applies the overrides. Errors carry the file position. */
tw_daemon_t *tw_daemon_new(const tw_daemon_options_t *o, tw_error_t *err);

/*
 * Starts everything (see above). On error (the lock is held by another process, the address is
 * in use, a collector root is unusable) whatever was started is stopped again; free the daemon.
 */
int tw_daemon_start(tw_daemon_t *d, tw_error_t *err);

/*
 * Re-reads the configuration file and applies it: a changed listen address restarts the HTTP
 * server (the new one is bound before the old one stops), changed collector settings rebuild the
 * collectors, changed Kubernetes settings restart the pod fetcher. A bad file or a failing
 * restart keeps the old configuration running; err says why (with file:line:col). Updates the
 * tidewatch_config_last_reload_* metrics and logs the outcome. Main thread only.
 */
int tw_daemon_reload(tw_daemon_t *d, tw_error_t *err);

/*
 * The main loop: handles SIGHUP (reload), /-/reload requests, and returns 0 on SIGTERM, SIGINT
 * or tw_daemon_shutdown(). Returns an error only when waiting itself fails.
 */
int tw_daemon_run(tw_daemon_t *d, tw_error_t *err);

/* Asks tw_daemon_run() to return. Thread-safe and async-signal-safe. */
void tw_daemon_shutdown(tw_daemon_t *d);

/* The HTTP port bound (for listen addresses with port 0). 0 when not started. */
int tw_daemon_port(tw_daemon_t *d);

/* Stops the HTTP server, the pod fetcher and the collector loop, releases the storage lock and
 * frees. NULL is a no-op. */
void tw_daemon_free(tw_daemon_t *d);

#endif
