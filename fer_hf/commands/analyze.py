"""Emotions of every face in photos and videos, to a table a spreadsheet opens.

    fer-hf analyze photo.jpg                                   # print each face: box, emotion, confidence
    fer-hf analyze photos/ --output results.csv                # one row per face, with the file name
    fer-hf analyze photos/ --output results.jsonl --annotated labelled/
    fer-hf analyze clip.mp4 videos/ --output faces.csv         # + faces.tracks.csv and faces_timelines/*.png

Photos are independent (no tracking or smoothing) and detected at a size that finds small faces; a photo with no
face gets a `no face found` row, an unreadable file an `unreadable file` row. Videos give one row per face per frame
(`time_s`), a per-track summary (dominant emotion, share of frames each emotion was on top) and a PNG timeline of
each track's seven probabilities.
Outputs appear whole or not at all; existing folders need --overwrite.
"""

import argparse
import contextlib
import logging
import sys
from pathlib import Path

from ..cli import counted
from ..outputs import atomic_dir, check_output_dir, check_writable_file
from ..errors import UserError
from ..video import IMAGE_SUFFIXES, LOG_SUFFIXES, check_readable_file
from .realtime import add_model_arguments, load_recognizer


def parse_args(args=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="fer-hf analyze", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)  # fmt: skip
    parser.add_argument("inputs", nargs="+", help="Photos, videos, or folders of them (searched recursively).")
    parser.add_argument("--output", default=None, help="Rows, one per face: .csv or .jsonl (default: print a summary per face).")
    parser.add_argument("--annotated", default=None, help="Folder for copies of the photos (and videos) with boxes and labels drawn; for one photo, also an image file name.")
    parser.add_argument("--timelines", default=None, help="Folder for the videos' PNG timelines (default: <output>_timelines beside --output).")
    parser.add_argument("--overwrite", action="store_true", help="Replace --annotated / --timelines folders that already hold files.")
    parser.add_argument("--quiet", action="store_true", help="No progress bars.")
    add_model_arguments(parser)
    return parser.parse_args(args)


def main(args=None) -> dict:
    return run(parse_args(args))


def run(args: argparse.Namespace) -> dict:
    """Analyse `args.inputs` with the options `parse_args` gives (`realtime` passes its own model options)."""
    logging.basicConfig(format="%(message)s", level=logging.WARNING)
    from ..batch import BatchAnalyzer, display_name, find_inputs, plot_timeline, write_track_summaries
    from ..video import FaceLog

    photos, videos = find_inputs(args.inputs)
    output = Path(args.output) if args.output else None
    if output:
        check_writable_file(output, "--output", LOG_SUFFIXES)
    timelines = Path(args.timelines) if args.timelines else (output.with_name(output.stem + "_timelines") if output and videos else None)
    tracks_csv = output.with_name(output.stem + ".tracks.csv") if output and videos else None
    named_one = len(args.inputs) == 1 and Path(args.inputs[0]).is_file()  # one file named: unreadable is an error
    single, single_video = named_one and len(photos) == 1, named_one and len(videos) == 1
    annotated_file = args.annotated if args.annotated and Path(args.annotated).suffix.lower() in IMAGE_SUFFIXES else None
    if annotated_file and not single:
        raise UserError(f"--annotated {annotated_file} is an image file name, which holds one photo; pass a folder.")
    if annotated_file:
        check_writable_file(annotated_file, "--annotated", IMAGE_SUFFIXES)
    for folder, flag in ((None if annotated_file else args.annotated, "--annotated"), (timelines, "--timelines")):
        if folder:
            check_output_dir(folder, args.overwrite, args.inputs, flag)
    if single or single_video:  # one file named: a bad file is the answer, before any model or detector is loaded
        check_readable_file((photos or videos)[0], display_name((photos or videos)[0], args.inputs))
    recognizer = load_recognizer(args)
    labels = recognizer.classifier.labels
    log = FaceLog(str(output), labels, ("file", "frame", "time_s", "track_id") if videos else ("file",)) if output else None
    printed = _PrintLog() if not output else None
    stats = {"photos": 0, "videos": 0, "faces": 0, "no_face": 0, "unreadable": 0, "tracks": 0}
    try:
        with _folder(None if annotated_file else args.annotated) as annotated, _folder(timelines) as timeline_dir:
            analyzer = BatchAnalyzer(recognizer, log or printed, annotated, args.probs, progress=not args.quiet)
            if photos:
                names = [display_name(p, args.inputs) for p in photos]
                counts = analyzer.photos(photos, names, strict=single, annotated_file=annotated_file)
                for key, value in counts.items():
                    stats[key] += value
            summaries = []
            names = [display_name(path, args.inputs) for path in videos]
            for result in analyzer.videos(videos, names, stats, strict=single_video):
                summaries += result.summaries(labels)
                if timeline_dir is not None:
                    plot_timeline(timeline_dir / Path(result.file).with_suffix(".png"), result, labels)
            stats["tracks"] = len(summaries)
            if tracks_csv:
                write_track_summaries(tracks_csv, summaries, labels)
        if log:
            log.close()
    except BaseException:
        if log:
            log.close(keep=False)
        raise
    if printed is None:
        for name, path in (("faces", output), ("tracks", tracks_csv), ("timelines", timelines), ("annotated", args.annotated)):
            if path:
                print(f"{name}: {path}")
    elif summaries:
        for s in summaries:
            print(f"{s.file} face #{s.track_id}: {s.dominant} ({counted(s.frames, 'frame')}, {s.first_s:.1f}-{s.last_s:.1f} s)")
    print(f"{counted(stats['photos'], 'photo')}, {counted(stats['videos'], 'video')}, {counted(stats['faces'], 'face')}"
          + (f", {counted(stats['no_face'], 'photo')} with no face found" if stats["no_face"] else "")
          + (f", {counted(stats['unreadable'], 'unreadable file')} skipped" if stats["unreadable"] else ""), file=sys.stderr)  # fmt: skip
    return stats


class _PrintLog:
    """Without --output: one line per face of each photo on stdout (video rows are summarised per track instead)."""

    def write(self, context: dict, faces, note_if_empty: bool = False) -> None:
        if "frame" in context:
            return
        if not faces and note_if_empty:
            self.note(context, "no face found")
        for i, face in enumerate(faces):
            top = sorted(face.probs.items(), key=lambda kv: -kv[1])[1]
            print(f"{context['file']} face {i + 1} at {list(face.box)}: {face.label} {100 * face.confidence:.0f}% "
                  f"(next: {top[0]} {100 * top[1]:.0f}%)")  # fmt: skip

    def note(self, context: dict, text: str) -> None:
        print(f"{context['file']}: {text}")


def _folder(path):
    """`atomic_dir(path)` (built aside, renamed when whole) when a folder is asked for, else a block yielding None."""
    return atomic_dir(path) if path else contextlib.nullcontext()
