"""The suite tests each target's own code: functions compile before `tensorir.function` returns (flag
`tiered` off); tests/test_tiers.py turns it on where it tests tiered execution itself."""

from tensorir import config

config.tiered = False
