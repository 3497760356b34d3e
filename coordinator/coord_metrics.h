/*
 * The coordinator's metrics snapshot for the daemon's /metrics
 * (docs/http.md): internal to the programs that link the static library,
 * not part of the public API (include/snowrange/).
 */
#ifndef SR_COORD_METRICS_H
#define SR_COORD_METRICS_H

#include "metrics.h"
#include "snowrange/coordinator.h"

/*
 * Fills out (all but node and http_requests) and *seqs, a malloc'd array
 * of the sequences held (the caller frees it; out->seqs points to it).
 * SR_ENOMEM leaves out without sequences.
 */
int coord_metrics_read(sr_coordinator *c, struct metrics_coord *out, struct metrics_seq **seqs);

#endif
