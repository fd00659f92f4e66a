"""Stand-alone espeak-ng worker (stdlib only; run as a separate process by `speech.SpeechSession`).

libespeak-ng keeps hidden state between utterances (e.g. pitch flutter), so the same text gives slightly
different audio later in a process. A fresh worker per session makes synthesis a pure function of the
request sequence. Protocol: one JSON request per stdin line {text, voice, rate, pitch}; reply: one JSON
line {rate, n, events: [[sample, symbol], ...], error?} followed by n int16 samples (little endian) raw.
"""

import ctypes
import ctypes.util
import json
import sys


class _U(ctypes.Union):
    _fields_ = [("number", ctypes.c_int), ("name", ctypes.c_char_p), ("string", ctypes.c_char * 8)]


class _Ev(ctypes.Structure):
    _fields_ = [("type", ctypes.c_int), ("unique_identifier", ctypes.c_uint), ("text_position", ctypes.c_int),
                ("length", ctypes.c_int), ("audio_position", ctypes.c_int), ("sample", ctypes.c_int),
                ("user_data", ctypes.c_void_p), ("id", _U)]


_CB = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.POINTER(_Ev))


def main() -> int:
    try:
        lib = ctypes.CDLL("libespeak-ng.so.1")
    except OSError:
        lib = ctypes.CDLL(ctypes.util.find_library("espeak-ng") or "libespeak-ng.so")
    rate = lib.espeak_Initialize(2, 0, None, 0x0001 | 0x8000)  # synchronous, phoneme events, don't exit
    if rate <= 0:
        sys.stdout.write(json.dumps({"error": "espeak_Initialize failed"}) + "\n")
        return 1
    chunks, events = [], []

    def on_audio(wav, n, ev):
        if n > 0:
            chunks.append(ctypes.string_at(wav, 2 * n))
        i = 0
        while ev[i].type != 0:
            if ev[i].type == 7:  # espeakEVENT_PHONEME
                events.append([int(ev[i].sample), ev[i].id.string.decode("ascii", "replace")])
            i += 1
        return 0

    cb = _CB(on_audio)
    lib.espeak_SetSynthCallback(cb)
    out = sys.stdout.buffer
    out.write((json.dumps({"ready": True, "rate": rate}) + "\n").encode())
    out.flush()
    for line in sys.stdin:
        req = json.loads(line)
        chunks.clear()
        events.clear()
        if lib.espeak_SetVoiceByName(req["voice"].encode()) != 0:
            out.write((json.dumps({"error": f"voice {req['voice']!r} not found", "n": 0}) + "\n").encode())
            out.flush()
            continue
        lib.espeak_SetParameter(1, int(req["rate"]), 0)
        lib.espeak_SetParameter(3, int(req["pitch"]), 0)
        data = req["text"].encode("utf-8")
        lib.espeak_Synth(data, len(data) + 1, 0, 1, 0, 1, None, None)
        lib.espeak_Synchronize()
        audio = b"".join(chunks)
        out.write((json.dumps({"rate": rate, "n": len(audio) // 2, "events": events}) + "\n").encode())
        out.write(audio)
        out.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
