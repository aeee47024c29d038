/* offline.h - the configuration of an engine on the manual offline clock,
 * shared by the unit tests and benchmarks that drive the graph: no inputs
 * unless asked, no line-up tone, no memory locking (several test engines may
 * live at once), buffers for periods up to 1024 frames.
 *
 * Threads: the test's main thread.
 */
#ifndef AIRMIX_TEST_OFFLINE_H
#define AIRMIX_TEST_OFFLINE_H

#include "engine/config.h"

static inline void offline_config(struct airmix_config *cfg, int rate, int period)
{
	config_defaults(cfg);
	cfg->backend = BACKEND_OFFLINE;
	cfg->sample_rate = rate;
	cfg->period_frames = period;
	cfg->max_period_frames = 1024;
	cfg->jack_inputs = 0;
	cfg->tone_enabled = false;
	cfg->lock_memory = false;
}

#endif
