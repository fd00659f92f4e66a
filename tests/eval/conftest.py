import pytest
import torch


@pytest.fixture(autouse=True, scope="module")
def _single_thread():
    """Evaluation runs single-threaded (bit-stable and fastest on the shared CPU); restore afterwards."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)
