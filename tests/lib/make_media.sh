#!/bin/sh
# make_media.sh - writes the compressed and multi-track test media that
# tests/unit/test_media.c reads (never committed: generated at test time).
# Files with exact known content (WAV, FLAC, Ogg Vorbis) are written by the
# test itself through libsndfile; this script uses ffmpeg and sox for the rest.
#
# Usage: tests/lib/make_media.sh DIR
#   sine.mp3    2 s, 440 Hz, 44.1 kHz mono, libmp3lame (LAME header: gapless)
#   sine.opus   2 s, 440 Hz, 48 kHz mono, libopus in Ogg
#   sine.m4a    2 s, 440 Hz, 44.1 kHz stereo, AAC-LC in MP4
#   two.mkv     2 s, 48 kHz, FLAC stream 0 at 440 Hz, stream 1 at 880 Hz
#   two.mp4     2 s, 44.1 kHz, AAC stream 0 at 440 Hz, stream 1 at 880 Hz
#   four.wav    1 s, 48 kHz, 4 channels at 300, 600, 900, 1200 Hz (sox)
#   four.mka    four.wav as one 4-channel FLAC stream in Matroska
#   video.mp4   2 s of a tiny MPEG-4 video stream, then AAC 440 Hz
#   clip20.wav  20 s, 44.1 kHz stereo, 500 Hz (sox)
#   clip21.wav  21 s, 44.1 kHz stereo, 500 Hz (sox)
set -eu
dir=$1
ff() { ffmpeg -hide_banner -loglevel error -nostdin -y "$@"; }
sine() { echo "sine=frequency=$1:sample_rate=$2:duration=$3"; }

ff -f lavfi -i "$(sine 440 44100 2)" -c:a libmp3lame -b:a 128k "$dir/sine.mp3"
ff -f lavfi -i "$(sine 440 48000 2)" -c:a libopus -b:a 96k "$dir/sine.opus"
ff -f lavfi -i "$(sine 440 44100 2)" -ac 2 -c:a aac -b:a 128k "$dir/sine.m4a"
ff -f lavfi -i "$(sine 440 48000 2)" -f lavfi -i "$(sine 880 48000 2)" \
	-map 0:a -map 1:a -c:a flac "$dir/two.mkv"
ff -f lavfi -i "$(sine 440 44100 2)" -f lavfi -i "$(sine 880 44100 2)" \
	-map 0:a -map 1:a -c:a aac -b:a 96k "$dir/two.mp4"
sox -n -r 48000 -c 4 -b 16 "$dir/four.wav" synth 1 sine 300 sine 600 sine 900 sine 1200 vol 0.5
ff -i "$dir/four.wav" -c:a flac "$dir/four.mka"
ff -f lavfi -i "color=size=32x32:rate=5:duration=2" -f lavfi -i "$(sine 440 44100 2)" \
	-map 0:v -map 1:a -c:v mpeg4 -c:a aac "$dir/video.mp4"
sox -n -r 44100 -c 2 -b 16 "$dir/clip20.wav" synth 20 sine 500 vol 0.3
sox -n -r 44100 -c 2 -b 16 "$dir/clip21.wav" synth 21 sine 500 vol 0.3
