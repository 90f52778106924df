"""Run a fuzz target under atheris: `python -m tests.fuzz.run TARGET [FILE...] [options]`.

TARGET is `multipart`, `upload` or `manifest`. FILE arguments are replayed once each (a crash
the fuzzer saved, say); without them the run starts from tests/fuzz/corpus/TARGET, which it
only reads: inputs it finds interesting go to `--work DIR` (default var/fuzz/TARGET/corpus),
a crashing input to var/fuzz/TARGET/crash-* unless `-artifact_prefix=` says otherwise, with
tests/fuzz/dictionaries/TARGET.dict unless `-dict=` does. Other options go to libFuzzer as
they are: `-runs=100000`, `-max_total_time=600`, `-seed=1` ...
See tests/fuzz/README.md.
"""

from __future__ import annotations

import argparse
import logging
import sys
import warnings
from pathlib import Path

import atheris

ROOT = Path(__file__).resolve().parents[2]
CORPUS = Path(__file__).resolve().parent / "corpus"
DICTIONARIES = Path(__file__).resolve().parent / "dictionaries"

# Pure-Python code whose branches steer the fuzzer, per target: ours and what parses for us.
INSTRUMENTED = {
    "multipart": ("forkable.web.multipart", "python_multipart"),
    "upload": ("forkable.generations", "forkable.image_bytes", "PIL", "pillow_heif"),
    "manifest": ("forkable.manifest", "forkable.providers", "tomllib"),
}


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("target", choices=sorted(INSTRUMENTED))
    parser.add_argument("--work", type=Path, help="where new interesting inputs are written")
    args, rest = parser.parse_known_args(argv[1:])
    libfuzzer_options = [arg for arg in rest if arg.startswith("-")]
    inputs = [arg for arg in rest if not arg.startswith("-")]

    work = args.work or ROOT / "var" / "fuzz" / args.target / "corpus"
    work.mkdir(parents=True, exist_ok=True)
    if not any(option.startswith("-artifact_prefix=") for option in libfuzzer_options):
        libfuzzer_options.append(f"-artifact_prefix={work.parent}/")
    if not any(option.startswith("-dict=") for option in libfuzzer_options):
        # Magic numbers and keywords the mutations would rarely spell out by chance.
        libfuzzer_options.append(f"-dict={DICTIONARIES / args.target}.dict")
    # Files given by name are replayed once each; otherwise fuzz from the corpus.
    # libFuzzer writes new inputs into the first folder and only reads the others.
    inputs = inputs or [str(work), str(CORPUS / args.target)]

    # The test suite turns warnings into errors, and so does a fuzz run: a warning that
    # escapes the code under test is an outcome its callers would not expect.
    warnings.simplefilter("error")
    # python-multipart logs every syntax error it meets; the fuzzer meets thousands a second.
    logging.getLogger("python_multipart").setLevel(logging.CRITICAL)
    with atheris.instrument_imports(include=list(INSTRUMENTED[args.target])):
        from tests.fuzz.targets import TARGETS

    atheris.Setup([argv[0], *libfuzzer_options, *inputs], TARGETS[args.target])
    atheris.Fuzz()


if __name__ == "__main__":
    main(sys.argv)
