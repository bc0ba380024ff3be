import numpy as np
import torch

from inrcli import inference
from inrcli.grid import Partitioning, sample_centres
from inrcli.models.local_global import LocalGlobalSiren
from inrcli.models.siren import Siren


def lg_model():
    torch.manual_seed(0)
    return LocalGlobalSiren.on_partitioning(2, 3, 4000, Partitioning.even((13, 17), (3, 4)))


def grid_coords(shape, full):
    axes = [torch.from_numpy(sample_centres((0, f), n, f)) for n, f in zip(shape, full)]
    return torch.stack(torch.meshgrid(*axes, indexing="ij"), -1).reshape(-1, 2).float()


def test_decode_grid_matches_point_evaluation_at_any_resolution():
    model = lg_model()
    for shape in [(13, 17), (40, 9), (5, 50)]:
        grid = inference.decode_grid(model, shape, ((0, 13), (0, 17)), (13, 17))
        points = inference.evaluate_points(model, grid_coords(shape, (13, 17)))
        assert np.allclose(grid.reshape(-1, 3), points, atol=1e-6)


def test_point_evaluation_at_sample_centres_is_the_own_partition_network():
    model = lg_model()
    coords = grid_coords((13, 17), (13, 17))
    out = inference.evaluate_points(model, coords)
    slots = model.partitioning.route(coords)
    direct = torch.cat([model(coords[i:i + 1][None], slots[i:i + 1])[0] for i in range(len(coords))]).detach().numpy()
    assert np.allclose(out, direct, atol=1e-6, rtol=0)


def test_between_partitions_the_two_networks_are_blended_without_a_step():
    model = lg_model()
    edge = 2 * model.partitioning.edges[1][1] / 17 - 1  # first column edge, in coordinates
    half_pixel = 1 / 17
    row = float(sample_centres((0, 13), 13, 13)[6])
    xs = torch.linspace(edge - half_pixel, edge + half_pixel, 41, dtype=torch.float64)
    coords = torch.stack([torch.full_like(xs, row), xs], -1).float()
    out = inference.evaluate_points(model, coords)
    left, right = (model(coords[None], torch.tensor([model.partitioning.slot_of((1, k))]))[0].detach().numpy()
                   for k in (0, 1))
    t = np.clip((xs.numpy() - (edge - half_pixel)) / (2 * half_pixel), 0, 1)[:, None]
    assert np.allclose(out, (1 - t) * left + t * right, atol=1e-5)
    assert np.allclose(out[0], left[0], atol=1e-6) and np.allclose(out[-1], right[-1], atol=1e-6)
    # no jump: neighbouring samples differ no more than the blend's own slope allows
    assert np.abs(np.diff(out, axis=0)).max() <= np.abs(left - right).max() / 20 + 0.05


def test_small_blocks_give_the_same_decode(monkeypatch):
    model = Siren.for_budget(2, 1, 2000)
    expected = inference.decode_grid(model, (30, 30), ((0, 10), (0, 10)), (10, 10))
    monkeypatch.setattr(inference, "MAX_BLOCK_POINTS", 7)
    assert np.array_equal(inference.decode_grid(model, (30, 30), ((0, 10), (0, 10)), (10, 10)), expected)


def test_progress_reaches_total():
    seen = []
    inference.decode_grid(lg_model(), (26, 34), ((0, 13), (0, 17)), (13, 17), on_progress=lambda d, t: seen.append((d, t)))
    assert seen[-1] == (26 * 34, 26 * 34)
