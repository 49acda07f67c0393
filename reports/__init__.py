"""Rendering of reports: tables, files and plots (installed as syops.reports)."""
