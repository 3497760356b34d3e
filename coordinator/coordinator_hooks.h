/*
 * Test hooks of the coordinator, private to coordinator.c and its tests:
 * they are not part of the installed API (include/snowrange/coordinator.h).
 */
#ifndef SR_COORDINATOR_HOOKS_H
#define SR_COORDINATOR_HOOKS_H

#include <stdint.h>

#include "snowrange/coordinator.h"

/*
 * Shifts the wall clock this coordinator reads for txids (and reports to
 * the master) by offset_ms, as on a host whose clock is off by that much;
 * the monotonic clock behind its lease view is left alone. The clock-skew
 * tests run two coordinators in one process with clocks that disagree
 * (docs/reliability.md). Takes effect at the next reading.
 */
void coordinator_debug_clock_offset(sr_coordinator *c, int64_t offset_ms);

#endif
