"""``python -m skillexec``."""

from skillexec.cli import main

main()
