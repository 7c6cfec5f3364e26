"""An autouse fixture for the training tests (not a test module): import it into a test module,
``from one_thread import one_thread  # noqa: F401``, and each of its tests runs on one torch thread."""

import pytest
import torch


@pytest.fixture(autouse=True)
def one_thread():
    """Run the test on one torch thread (steady timing, no oversubscription), then restore the count."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
