"""The syops command line (installed as syops.cli)."""
