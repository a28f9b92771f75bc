"""Command line (placeholder until the linter lands)."""


def main(argv=None) -> int:
    return 0
