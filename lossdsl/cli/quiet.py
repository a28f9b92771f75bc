"""TensorFlow's start-up messages kept out of the command line's report.

Importing TensorFlow 2.21 prints lines such as ``oneDNN custom operations are on`` and, on a machine
without a GPU, ``failed call to cuInit``: they read like failures in a linter's output. Most come from
C++ before absl's logging is initialized, which ``TF_CPP_MIN_LOG_LEVEL`` does not reach, so the
process's standard error is set aside while TensorFlow loads and shown only if loading fails.
Users who set ``TF_CPP_MIN_LOG_LEVEL`` themselves choose what they see: nothing is hidden from them.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile

LOG_LEVEL = "TF_CPP_MIN_LOG_LEVEL"


@contextlib.contextmanager
def quiet_tensorflow():
    """Hide TensorFlow's C++ and Python start-up logging inside the block (unless the user set
    ``TF_CPP_MIN_LOG_LEVEL``); what it printed is shown again if the block raises."""
    if LOG_LEVEL in os.environ:
        yield
        return
    os.environ[LOG_LEVEL] = "3"
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as held:
        os.dup2(held.fileno(), 2)
        try:
            yield
            _quiet_python_loggers()
        except BaseException:
            os.dup2(saved, 2)
            held.seek(0)
            sys.stderr.write(held.read().decode("utf-8", "replace"))
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def _quiet_python_loggers() -> None:
    import logging
    logging.getLogger("tensorflow").setLevel(logging.ERROR)
    with contextlib.suppress(ImportError):
        from absl import logging as absl_logging
        absl_logging.set_verbosity(absl_logging.ERROR)
