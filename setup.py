"""The one compiled part: the completion and event formats' hot path (src/llm_exporter/pipeline/_hotpath.c,
with its JSON reader _json.c).

Optional: where it cannot be built (no C compiler or Python headers), the install goes on and the
pipeline runs the same lines in Python, only slower.
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "llm_exporter.pipeline._hotpath",
            ["src/llm_exporter/pipeline/_hotpath.c", "src/llm_exporter/pipeline/_json.c"],
            depends=["src/llm_exporter/pipeline/_json.h"],
            extra_compile_args=["-O2", "-ffp-contract=off"],
            optional=True,
        )
    ]
)
