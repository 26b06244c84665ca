"""The pass registry and the named pipelines.

A pass is found by its kebab-case command-line name; its module is imported only when the
pass is used (so `import tensorir` stays cheap and a pass may depend on optional packages).
A pipeline is just a list of pass specs (`name` or `name{opt=value,...}`).

    from tensorir.passes import parse_pipeline, run_pipeline, PassManager
    run_pipeline(module, "interp")                    # a named pipeline
    run_pipeline(module, "canonicalize{max-iterations=3},cse")
"""

from __future__ import annotations

# name -> (module, class). Keep sorted by name.
PASSES: dict[str, tuple[str, str]] = {
    "autodiff": ("tensorir.passes.autodiff", "AutodiffPass"),
    "bufferize": ("tensorir.passes.bufferize", "BufferizePass"),
    "canonicalize": ("tensorir.passes.canonicalize", "CanonicalizePass"),
    "cse": ("tensorir.passes.cse", "CSEPass"),
    "dce": ("tensorir.passes.dce", "DCEPass"),
    "decompose": ("tensorir.passes.decompose", "DecomposePass"),
    "device-gemm": ("tensorir.passes.device_gemm", "DeviceGemmPass"),
    "device-residency": ("tensorir.passes.device_residency", "DeviceResidencyPass"),
    "emit-c": ("tensorir.passes.emit_c", "EmitCPass"),
    "emit-cuda": ("tensorir.passes.emit_cuda", "EmitCUDAPass"),
    "emit-opencl": ("tensorir.passes.emit_opencl", "EmitOpenCLPass"),
    "fuse-elementwise": ("tensorir.passes.fuse_elementwise", "FuseElementwisePass"),
    "fuse-loops": ("tensorir.passes.fuse_loops", "FuseLoopsPass"),
    "gemm": ("tensorir.passes.gemm", "GemmPass"),
    "inline": ("tensorir.passes.inline", "InlinePass"),
    "lower-to-loops": ("tensorir.passes.lower_to_loops", "LowerToLoopsPass"),
    "outline-kernels": ("tensorir.passes.outline_kernels", "OutlineKernelsPass"),
    "parallelize": ("tensorir.passes.parallelize", "ParallelizePass"),
    "scan-pushout": ("tensorir.passes.scan_pushout", "ScanPushoutPass"),
    "sparse-lower": ("tensorir.passes.sparse_lower", "SparseLowerPass"),
    "stabilize": ("tensorir.passes.stabilize", "StabilizePass"),
    "tree-reductions": ("tensorir.passes.tree_reductions", "TreeReductionsPass"),
}

# Named pipelines: lists of pass specs. `cpu`, `cuda` and `opencl` come with their backends.
PIPELINES: dict[str, list[str]] = {
    # stabilize runs before autodiff, so that gradients are taken of the stable forms; sparse-lower before
    # both, so that they see csr/csc matrices as their dense parts.
    "interp": ["sparse-lower", "stabilize", "autodiff", "canonicalize", "cse", "dce"],
    # docs/lowering.md describes each step of the native pipeline.
    "cpu": ["sparse-lower", "stabilize", "autodiff", "inline", "canonicalize", "cse", "scan-pushout", "decompose",
            "canonicalize", "cse", "gemm", "fuse-elementwise", "bufferize", "lower-to-loops", "fuse-loops",
            "parallelize", "outline-kernels", "emit-c"],
}
# The device targets: the same lowering, matrix products as device kernels (device-gemm), kernels over device
# buffers (outline-kernels' transfers and grid; long row reductions on a work-group each: tree-reductions;
# device-residency keeps data on the device between them).
_DEVICE = [*PIPELINES["cpu"][:-2], "device-gemm", "outline-kernels{device=true}", "tree-reductions",
           "device-residency"]
PIPELINES["opencl"] = [*_DEVICE, "emit-opencl"]
PIPELINES["cuda"] = [*_DEVICE, "emit-cuda"]

from .pass_manager import (  # noqa: E402 - the registry above must exist before pass_manager reads it
    Pass,
    PassInstrumentation,
    PassManager,
    PassTimer,
    get_pass_class,
    parse_pipeline,
    run_pipeline,
)

__all__ = ["PASSES", "PIPELINES", "Pass", "PassInstrumentation", "PassManager", "PassTimer", "get_pass_class",
           "parse_pipeline", "run_pipeline"]
