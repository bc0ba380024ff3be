import numpy as np
import torch

from inrcli import inference
from inrcli.grid import Partitioning, sample_centres
from inrcli.models.local_global import LocalGlobalSiren
from inrcli.models.siren import Siren


def lg_model():
    torch.manual_seed(0)
    return LocalGlobalSiren.for_budget(2, 3, 4000, partitioning=Partitioning.even((13, 17), (3, 4)))


def grid_coords(shape, full):
    axes = [torch.from_numpy(sample_centres((0, f), n, f)) for n, f in zip(shape, full)]
    return torch.stack(torch.meshgrid(*axes, indexing="ij"), -1).reshape(-1, 2).float()


def test_decode_grid_matches_point_evaluation_at_any_resolution():
    model = lg_model()
    for shape in [(13, 17), (40, 9), (5, 50)]:
        grid = inference.decode_grid(model, shape, ((0, 13), (0, 17)), (13, 17))
        points = inference.evaluate_points(model, grid_coords(shape, (13, 17)))
        assert np.allclose(grid.reshape(-1, 3), points, atol=1e-6)


def test_point_evaluation_matches_direct_forward_per_partition():
    model = lg_model()
    coords = torch.rand(500, 2) * 2 - 1
    out = inference.evaluate_points(model, coords)
    slots = model.route(coords)
    direct = torch.cat([model(coords[i:i + 1][None], slots[i:i + 1])[0] for i in range(500)]).detach().numpy()
    assert np.allclose(out, direct, atol=1e-5)


def test_small_blocks_give_the_same_decode(monkeypatch):
    model = Siren.for_budget(2, 1, 2000)
    expected = inference.decode_grid(model, (30, 30), ((0, 10), (0, 10)), (10, 10))
    monkeypatch.setattr(inference, "MAX_BLOCK_POINTS", 7)
    assert np.array_equal(inference.decode_grid(model, (30, 30), ((0, 10), (0, 10)), (10, 10)), expected)


def test_progress_reaches_total():
    seen = []
    inference.decode_grid(lg_model(), (26, 34), ((0, 13), (0, 17)), (13, 17), on_progress=lambda d, t: seen.append((d, t)))
    assert seen[-1] == (26 * 34, 26 * 34)
