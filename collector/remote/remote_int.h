/* SPDX-License-Identifier: Apache-2.0 */
/*
 * remote_int.h - declarations shared by the files of collector/remote only (no other folder
 * includes this).
 */
#ifndef TW_COLLECTOR_REMOTE_REMOTE_INT_H
#define TW_COLLECTOR_REMOTE_REMOTE_INT_H

#include "remote.h"

/* Copies in (may be NULL) to out with every zero limit replaced by its default. */
void tw_remote_write_limits_resolve(const tw_remote_write_limits_t *in,
                                    tw_remote_write_limits_t *out);

#endif
