"""``python -m syops``: the syops command line."""
from syops.cli.main import main

main()
