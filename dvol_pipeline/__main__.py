"""`python -m dvol_pipeline ...` and the `dvol-pipeline` script: the CLI (cli.py), in a process of its own."""

import sys


def _without_hypothesis() -> None:
    """Hide hypothesis from this process, as the runtime install (requirements.lock) does not have it.

    Why: pandera imports hypothesis when it is installed (the test install has it) to offer data
    synthesis from schemas, which the CLI never asks for; the import and the plugins hypothesis
    loads cost ~0.75 s of every command (a third of the end of day's validation). With `None` in
    `sys.modules`, pandera's `import hypothesis` fails and it goes on without strategies, exactly
    as in production. Only this entry point does it: a test that imports the CLI keeps hypothesis.
    """
    sys.modules.setdefault("hypothesis", None)  # type: ignore[arg-type]


def run() -> int:
    _without_hypothesis()
    from dvol_pipeline.cli import main

    return main()


if __name__ == "__main__":
    sys.exit(run())
