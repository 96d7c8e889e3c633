"""The ``rgbt-tracker`` command line. Each subcommand lives in its own module of this package."""
