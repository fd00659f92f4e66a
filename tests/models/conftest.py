import pytest
import torch


@pytest.fixture(scope="module")
def one_thread():
    """Conv3d on a shared 2-core box is far faster single-threaded (no OpenMP oversubscription); restored after
    the module. Modules opt in with `pytestmark = pytest.mark.usefixtures("one_thread")`."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)
