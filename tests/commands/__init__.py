"""Tests of `jupyter mlops …`, one file per module of `jupyter_mlops/commands/`."""
