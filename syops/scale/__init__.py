"""Counting at scale: torch.distributed ranks (distributed), long runs with progress and
resumable partial reports (longrun), and confidence intervals over samples (stats)."""
