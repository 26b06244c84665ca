"""The suite tests each target's own code: functions compile before `tensorir.function` returns (flag
`tiered` off); tests/test_tiers.py turns it on where it tests tiered execution itself."""

from tensorir import config

config.tiered = False

import os  # noqa: E402

# TENSORIR_TEST_C_TARGET=opencl: every function a test builds for target "c" runs on that target instead (the
# other files' compiled-target tests on a device target; tests/test_opencl.py runs a subset of them this way).
if os.environ.get("TENSORIR_TEST_C_TARGET"):
    from tensorir.frontend import function as _function

    _function.TARGETS["c"] = _function.TARGETS[os.environ["TENSORIR_TEST_C_TARGET"]]
