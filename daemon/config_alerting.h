/* SPDX-License-Identifier: Apache-2.0 */
/*
 * config_alerting.h - the alerting parts of tidewatch.yml, walked for config.c: `rule_files`
 * (patterns resolved against the config file's folder, or `builtin:NAME` for the rule files
 * compiled into the binary), `alerting:` (handed to alerting/notify's parser) and
 * `global.external_url`. Private to daemon/. Pure; thread-safe on distinct configs.
 */
#ifndef TW_DAEMON_CONFIG_ALERTING_H
#define TW_DAEMON_CONFIG_ALERTING_H

#include "common/yaml_tree.h"
#include "config.h"

/* The prefix of a rule_files entry that names a built-in rule file ("builtin:node.yml"). */
#define TW_RULES_BUILTIN_PREFIX "builtin:"

/*
 * rule_files: a list of file names or globs. Each must match Prometheus' rule path pattern
 * (at most one `*`, not before a `/`): "invalid rule file path \"x\"" otherwise. Relative
 * patterns are joined to the folder of c->source; `builtin:` entries are kept as written and
 * must name a built-in file. Fills c->rule_files.
 */
int tw_config_walk_rule_files(tw_yaml_walk_t *w, const tw_yaml_node_t *n, tw_config_t *c);

/* alerting: tw_notify_config_parse() into c->alerting (left NULL when absent or null). */
int tw_config_walk_alerting(tw_yaml_walk_t *w, const tw_yaml_node_t *n, tw_config_t *c);

/* global.external_url: "" or an absolute http(s) URL; a trailing '/' is removed. */
int tw_config_walk_external_url(tw_yaml_walk_t *w, const tw_yaml_node_t *n, tw_config_t *c);

/* Frees what the three walks above put in c. */
void tw_config_alerting_free(tw_config_t *c);

#endif
