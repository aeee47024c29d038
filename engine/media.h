/* media.h - open, inspect and decode audio files into interleaved stereo
 * float at the engine rate, for the mixing manager's preloads and its reader
 * threads. Never called on the RT thread.
 *
 * DESIGN
 * A struct media is one decoding pipeline: a source (libsndfile for
 * WAV/RF64/BWF, FLAC, Ogg Vorbis/Opus, MP3 and the other formats it reads;
 * libavformat + libavcodec for MP4/M4A/AAC, Matroska, MPEG-TS and whatever
 * libsndfile refuses) -> the selected track mapped to stereo -> a libsoxr
 * resampler when the source rate differs from the engine rate. With equal
 * rates nothing touches the samples: a 16-bit or float WAV comes out exactly
 * as sf_readf_float() gives it.
 *
 * Tracks: with libavformat and several audio streams, track k is the k-th
 * audio stream (a stream of more than two channels plays its first two).
 * A single stream (or any libsndfile file) of more than two channels is cut
 * into channel pairs: track k is channels 2k and 2k+1, an odd last channel is
 * a mono track. A mono track plays as L = R = x (no gain change).
 *
 * Lengths: info.frames counts engine-rate frames, round(source frames *
 * engine_rate / source_rate); the resampler is flushed at the end of the
 * file so that reading to the end yields exactly that many frames. The
 * encoder delay of MP3 (LAME header, via mpg123), Opus and AAC in MP4 (edit
 * list) is removed, and so is MP4's end padding, so these decode to their
 * source length. frames_exact is false where the length is an estimate (MP3
 * without a LAME/Xing header: mpg123's guess; Matroska, MPEG-TS and other
 * libavformat containers: the container's duration); once a read or a seek
 * reaches the end of the file, info.frames becomes the exact count.
 *
 * Seeking is sample-exact for libsndfile sources, also through the
 * resampler: the pipeline restarts at the last point before the target where
 * the source and engine sample grids meet, far enough back for the filter to
 * fill, and decodes and drops up to the target, so a read after a seek gives
 * the same samples as a read that got there without seeking. libavformat
 * sources seek to a frame at or before the target (100 ms pre-roll) and
 * decode and drop from there using the packet timestamps: best effort, exact
 * when the timestamps are (FLAC in Matroska: bit-exact; AAC: within 1e-4,
 * the decoder's state after pre-roll).
 *
 * Errors: functions return a negative errno value and fill err (or
 * media_error()) with a lowercase message that names what failed first and
 * carries the library's own text (sf_strerror, av_err2str):
 *   -ENOENT, -EACCES, ... the file could not be opened (strerror text)
 *   -EISDIR               a directory; -EINVAL also for other non-regular files
 *   -EINVAL               not a recognised audio file (both libraries' words)
 *   -EBADMSG              a WAV/RF64 whose data chunk announces more bytes than
 *                         the file holds (cut short by a copy or an upload)
 *   -ENODATA              no audio stream, or no samples at all
 *   -ENOTSUP              an audio codec there is no decoder for, or a sample
 *                         rate above 1536 kHz (a damaged header)
 *   -ERANGE               track index out of range; seek at or past the end
 *   -EFBIG                media_decode_all: longer than max_frames
 *   -EIO                  a decoding error in the middle of the file
 *   -ENOMEM               allocation failed
 *
 * Threads: a struct media is used by one thread at a time (any non-RT
 * thread); different objects may be used on different threads at once. There
 * is no global state here; the one shared thing is libsndfile's own error
 * slot behind a failed sf_open, so two threads failing at the same instant
 * may swap that text. libavformat/libavcodec write their own warnings
 * through av_log (stderr by default); the daemon may route or quiet them with
 * av_log_set_callback()/av_log_set_level().
 */
#ifndef AIRMIX_MEDIA_H
#define AIRMIX_MEDIA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <soxr.h>

struct media;

/* libsoxr quality recipe used for every rate conversion (high quality: 20-bit
 * precision, flat passband), and the source frames a seek decodes before its
 * target so that the filter is full when the target frame comes out. */
#define MEDIA_RESAMPLE_QUALITY SOXR_HQ
#define MEDIA_RESAMPLE_PREROLL 2048
/* Most tracks a file can offer; further streams or channel pairs are ignored. */
#define MEDIA_MAX_TRACKS 32

struct media_info {
	char format[32];	/* "WAV", "RF64", "FLAC", "OGG/Vorbis", "OGG/Opus", "MP3",
				   "AAC (mp4)", "FLAC (matroska)", ... */
	uint32_t source_rate;	/* Hz, of the selected track */
	uint32_t source_channels;	/* of the selected track: 1 or 2 */
	uint32_t tracks;	/* >= 1 */
	uint32_t track;		/* selected, 0-based */
	uint32_t engine_rate;	/* rate of what media_read() writes */
	int64_t frames;		/* length in engine-rate frames, -1 when unknown */
	bool frames_exact;	/* false: frames is the container's estimate */
	double duration_ms;	/* frames / engine_rate in ms, -1 when unknown */
};

/* Any non-RT thread. Opens path and selects track (0-based). engine_rate 0
 * keeps the source rate (no resampling). On failure returns < 0, sets *out to
 * NULL and writes the reason into err (errlen may be 0). */
int media_open(const char *path, uint32_t engine_rate, uint32_t track, struct media **out,
	       char *err, size_t errlen);
/* The thread using m. Safe with NULL. */
void media_close(struct media *m);

/* The thread using m. Decodes up to frames engine-rate frames into
 * stereo_interleaved (2 * frames floats). Returns the frames written (fewer
 * than asked only at the end of the file), 0 at the end (or when frames is
 * 0), < 0 on error (then media_error() says why; the error sticks until a
 * successful seek). */
long media_read(struct media *m, float *stereo_interleaved, uint32_t frames);
/* The thread using m. Moves to engine-rate frame engine_frame; -ERANGE at or
 * past the end (media_error() says so; reads go on). When the length was
 * exact the position is unchanged; else the seek ran into the end, which
 * leaves the position there and makes info.frames exact. */
int media_seek(struct media *m, int64_t engine_frame);
/* The thread using m. Engine-rate frame that the next media_read() starts at. */
int64_t media_tell(const struct media *m);
/* The thread using m. */
void media_get_info(const struct media *m, struct media_info *info);
/* The thread using m. Text of the last error, "" when none. */
const char *media_error(const struct media *m);

/* Any non-RT thread. Opens path only to fill info (no decoding beyond what
 * opening needs). engine_rate as in media_open. */
int media_probe(const char *path, uint32_t engine_rate, uint32_t track, struct media_info *info,
		char *err, size_t errlen);

/* Any non-RT thread. Decodes a whole track into a malloc'ed stereo
 * interleaved buffer (*pcm, free() it; *frames engine-rate frames). Longer
 * than max_frames: -EFBIG and err "clip is 21.0 s long; preload takes at
 * most 20.0 s". info may be NULL. */
int media_decode_all(const char *path, uint32_t engine_rate, uint32_t track, int64_t max_frames,
		     float **pcm, int64_t *frames, struct media_info *info, char *err,
		     size_t errlen);

/* Any non-RT thread. Integrated loudness (EBU R128 / ITU-R BS.1770, libebur128
 * mode I) of a whole track at its source rate, in LUFS. The track is measured
 * with its own channels: a mono track as one channel (a 0 dBFS 1 kHz sine
 * gives -3.0 LUFS, as ffmpeg's ebur128 filter and r128gain report it; played
 * as L = R it is 3.01 dB louder), a stereo pair as two. A track that is
 * silent or entirely below the -70 LUFS absolute gate gives -HUGE_VAL
 * (return value 0); callers clamp it to their own floor. */
int media_loudness(const char *path, uint32_t track, double *lufs, char *err, size_t errlen);

#endif
