/* SPDX-License-Identifier: Apache-2.0 */
/*
 * config_vpa.h - the vertical autoscaling parts of tidewatch.yml, walked for config.c:
 * `autoscaling.vertical[]` (VerticalPodAutoscaler manifests inline, or `{files: [glob, ...]}`
 * entries naming manifest files relative to the config file's folder) and
 * `autoscaling.recommender` (the recommender's and updater's flags, tw_vpa_options_t). After
 * both, the HPA/VPA feedback-loop rule: a VPA that changes the requests of a resource an HPA of
 * the same workload scales on by Utilization is refused, with an explanation
 * (docs/autoscaling-vpa.md, "Running it"). Private to daemon/. Pure except for reading the named
 * manifest files; thread-safe on distinct configs.
 */
#ifndef TW_DAEMON_CONFIG_VPA_H
#define TW_DAEMON_CONFIG_VPA_H

#include "common/yaml_tree.h"
#include "config.h"

/*
 * Walks autoscaling.vertical (n_vertical, may be NULL) and autoscaling.recommender (n_options,
 * may be NULL) into c->autoscaling.vertical / n_vertical / recommender, then checks every VPA
 * against c->autoscaling.horizontal (so call it after the horizontal walk). Errors name
 * file:line:col: duplicate namespace/name, a bad manifest (its own file's position for
 * `files:` entries), the HPA/VPA conflict (at the VPA).
 */
int tw_config_walk_vertical(tw_yaml_walk_t *w, const tw_yaml_node_t *n_vertical,
                            const tw_yaml_node_t *n_options, tw_config_t *c);

/*
 * Walks autoscaling.admission_webhook (n, may be NULL): {listen_address, tls_config: {cert_file,
 * key_file}}. A listen address needs both files (the API server calls webhooks over TLS only);
 * file names are relative to the config file's folder. Errors name file:line:col.
 */
int tw_config_walk_admission_webhook(tw_yaml_walk_t *w, const tw_yaml_node_t *n, tw_config_t *c);

/* Frees what tw_config_walk_vertical and tw_config_walk_admission_webhook put in c. */
void tw_config_vertical_free(tw_config_t *c);

#endif
