/* meter.c - windowed peak/RMS meters; see meter.h for the design.
 * Threads: RT for accumulate/advance, any for read. */
#include "meter.h"

#include <math.h>
#include <string.h>

static uint32_t float_bits(float f)
{
	uint32_t u;

	memcpy(&u, &f, sizeof(u));
	return u;
}

static float bits_float(uint32_t u)
{
	float f;

	memcpy(&f, &u, sizeof(f));
	return f;
}

void meter_reset(struct meter *m)
{
	for (int c = 0; c < METER_CHANNELS; c++) {
		m->acc_peak[c] = 0.0f;
		m->acc_sumsq[c] = 0.0;
		atomic_store_explicit(&m->peak_bits[c], 0, memory_order_relaxed);
		atomic_store_explicit(&m->rms_bits[c], 0, memory_order_relaxed);
	}
	m->acc_frames = 0;
	m->acc_extra = 0.0f;
	atomic_store_explicit(&m->extra_bits, 0, memory_order_relaxed);
}

/* Both versions keep four lanes (lane k takes samples i with i % 4 == k, the
 * tail goes to lane 0) and fold them in lane order, so they agree bit for bit. */
void meter_fold(struct meter *m, uint32_t channel, const float peak[4], const float sum[4])
{
	for (int k = 0; k < 4; k++) {
		if (peak[k] > m->acc_peak[channel])
			m->acc_peak[channel] = peak[k];
		m->acc_sumsq[channel] += sum[k];
	}
}

static void tail(const float *x, uint32_t i, uint32_t n, float peak[4], float sum[4])
{
	for (; i < n; i++) {
		float a = fabsf(x[i]);

		peak[0] = a > peak[0] ? a : peak[0];
		sum[0] += x[i] * x[i];
	}
}

void meter_accumulate_ref(struct meter *m, uint32_t channel, const float *x, uint32_t n)
{
	float peak[4] = { 0 }, sum[4] = { 0 };
	uint32_t i = 0;

	for (; i + 4 <= n; i += 4) {
		for (int k = 0; k < 4; k++) {
			float v = x[i + k];
			float a = fabsf(v);

			peak[k] = a > peak[k] ? a : peak[k];
			sum[k] += v * v;
		}
	}
	tail(x, i, n, peak, sum);
	meter_fold(m, channel, peak, sum);
}

/* The same with GCC/Clang vector types: one SSE/NEON register per quantity. */
typedef float v4sf __attribute__((vector_size(16)));
typedef int32_t v4si __attribute__((vector_size(16)));

void meter_accumulate(struct meter *m, uint32_t channel, const float *x, uint32_t n)
{
	const v4si abs_mask = { 0x7fffffff, 0x7fffffff, 0x7fffffff, 0x7fffffff };
	v4sf peak = { 0 }, sum = { 0 };
	float p[4], s[4];
	uint32_t i = 0;

	for (; i + 4 <= n; i += 4) {
		v4sf v, a;
		v4si bigger;

		memcpy(&v, x + i, sizeof(v));
		a = (v4sf)((v4si)v & abs_mask);
		bigger = a > peak;
		peak = (v4sf)(((v4si)a & bigger) | ((v4si)peak & ~bigger));
		sum += v * v;
	}
	memcpy(p, &peak, sizeof(p));
	memcpy(s, &sum, sizeof(s));
	tail(x, i, n, p, s);
	meter_fold(m, channel, p, s);
}

void meter_advance(struct meter *m, uint32_t n, uint32_t window_frames)
{
	m->acc_frames += n;
	if (m->acc_frames < window_frames)
		return;
	for (int c = 0; c < METER_CHANNELS; c++) {
		float rms = (float)sqrt(m->acc_sumsq[c] / m->acc_frames);

		atomic_store_explicit(&m->peak_bits[c], float_bits(m->acc_peak[c]),
				      memory_order_relaxed);
		atomic_store_explicit(&m->rms_bits[c], float_bits(rms), memory_order_relaxed);
		m->acc_peak[c] = 0.0f;
		m->acc_sumsq[c] = 0.0;
	}
	atomic_store_explicit(&m->extra_bits, float_bits(m->acc_extra), memory_order_relaxed);
	m->acc_extra = 0.0f;
	m->acc_frames = 0;
}

void meter_read(const struct meter *m, float peak[METER_CHANNELS], float rms[METER_CHANNELS])
{
	for (int c = 0; c < METER_CHANNELS; c++) {
		peak[c] = bits_float(atomic_load_explicit(&m->peak_bits[c], memory_order_relaxed));
		rms[c] = bits_float(atomic_load_explicit(&m->rms_bits[c], memory_order_relaxed));
	}
}

float meter_read_extra(const struct meter *m)
{
	return bits_float(atomic_load_explicit(&m->extra_bits, memory_order_relaxed));
}

double meter_dbfs(double linear)
{
	if (linear <= 0.0)
		return -INFINITY;
	return 20.0 * log10(linear);
}
