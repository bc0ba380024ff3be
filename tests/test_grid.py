import numpy as np
import pytest
import torch

from inrcli.errors import InrFileError, UsageError
from inrcli.grid import Partitioning, auto_grid, even_edges, parse_ranges, sample_centres


def test_even_edges_cover_every_sample_once():
    edges = even_edges(37, 5)
    assert edges[0] == 0 and edges[-1] == 37
    sizes = np.diff(edges)
    assert sizes.sum() == 37 and sizes.max() - sizes.min() <= 1


def test_sample_centres_are_pixel_centres_in_minus_one_to_one():
    centres = sample_centres((0, 4), 4, 4)
    assert np.allclose(centres, [-0.75, -0.25, 0.25, 0.75])


def test_crop_window_reproduces_full_grid_coordinates_exactly():
    full = sample_centres((0, 517), 517, 517)
    part = sample_centres((130, 390), 260, 517)
    assert np.array_equal(full[130:390], part)


def test_auto_grid_targets_partition_size():
    assert auto_grid((512, 512), 32) == (16, 16)
    assert auto_grid((768, 512), 32) == (24, 16)
    assert auto_grid((10, 3), 32) == (1, 1)


def test_route_sends_pixels_to_their_partition():
    part = Partitioning.even((10, 7), (3, 2))
    rows = torch.from_numpy(sample_centres((0, 10), 10, 10))
    cols = torch.from_numpy(sample_centres((0, 7), 7, 7))
    grid = torch.stack(torch.meshgrid(rows, cols, indexing="ij"), -1).reshape(-1, 2)
    slots = part.route(grid).reshape(10, 7)
    for r in range(10):
        for c in range(7):
            pr = next(k for k in range(3) if part.edges[0][k] <= r < part.edges[0][k + 1])
            pc = next(k for k in range(2) if part.edges[1][k] <= c < part.edges[1][k + 1])
            assert slots[r, c] == pr * 2 + pc


def test_route_off_grid_edges_and_outside():
    part = Partitioning.even((4, 4), (2, 2))
    coords = torch.tensor([[-1.0, -1.0], [0.0, 0.0], [-1e-6, 1e-6], [1.0, 1.0], [5.0, -5.0]])
    # an exact edge belongs to the partition after it; outside the domain clamps to the nearest
    assert part.route(coords).tolist() == [0, 3, 1, 3, 2]


def test_cropped_partitioning_routes_into_kept_block_only():
    part = Partitioning.even((8, 8), (4, 4)).crop(((1, 3), (2, 4)))
    assert part.kept_grid == (2, 2) and part.num_slots == 4 and part.window == ((2, 6), (4, 8))
    far = torch.tensor([[-1.0, -1.0], [1.0, 1.0]])
    assert part.route(far).tolist() == [0, 3]


@pytest.mark.parametrize("region", [((0, 0), (0, 1)), ((2, 5), (0, 1)), ((-1, 1), (0, 1))])
def test_crop_refuses_empty_or_out_of_range_regions(region):
    with pytest.raises(UsageError):
        Partitioning.even((8, 8), (4, 4)).crop(((0, 2), (0, 2))).crop(region)


def test_parse_ranges():
    assert parse_ranges("0:8, 2:4", 2) == ((0, 8), (2, 4))
    with pytest.raises(UsageError):
        parse_ranges("0:8", 2)
    with pytest.raises(UsageError):
        parse_ranges("a:b,0:1", 2)


def test_partitioning_round_trips_and_rejects_bad_metadata():
    part = Partitioning.even((20, 24), (3, 4)).crop(((1, 3), (0, 2)))
    assert Partitioning.from_dict(part.to_dict()) == part
    bad = part.to_dict() | {"edges": [[0, 5, 5, 20], [0, 6, 12, 18, 24]]}
    with pytest.raises(InrFileError):
        Partitioning.from_dict(bad)
    with pytest.raises(InrFileError):
        Partitioning.from_dict(part.to_dict() | {"kept": [[0, 9], [0, 1]]})
    with pytest.raises(InrFileError):
        Partitioning.from_dict({"full_shape": "x"})


def test_too_many_partitions_is_a_usage_error():
    with pytest.raises(UsageError):
        Partitioning.even((4, 4), (5, 1))
