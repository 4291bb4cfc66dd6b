/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_cgroup_pods.c - libFuzzer target for the PodList parser: parse the input, look a pod and
 * a container up, and write the kube-state-metrics series for all nodes and for one node.
 */
#include <stdint.h>
#include <stdlib.h>

#include "collector/cgroup/cgroup_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    tw_error_t err;
    tw_cgroup_pods_t *p = tw_cgroup_pods_parse((const char *)data, size, &err);
    if (p == NULL) {
        return 0;
    }
    tw_cg_pod_ref_t r;
    (void)tw_cg_pods_lookup(p, "5f3c2a10-1b2c-4d3e-8f90-0a1b2c3d4e5f",
                            "1111aaaa2222bbbb1111aaaa2222bbbb1111aaaa2222bbbb1111aaaa2222bbbb", &r);
    (void)tw_cg_pods_lookup(p, "u", "", &r);
    tw_mset_t *s = tw_mset_new();
    tw_cg_pods_write_ksm(p, NULL, s);
    tw_cg_pods_write_ksm(p, "node-a", s);
    tw_mset_free(s);
    tw_cgroup_pods_unref(p);
    return 0;
}
