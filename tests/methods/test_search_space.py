"""A best value at the end of its range is flagged, so a report can say which ranges to widen."""

from methods.search_space import Choice, Float, Int


def test_values_near_an_end_of_a_range_are_at_its_edge():
    lr = Float(1e-4, 1e-2, log=True)
    assert lr.edge(1.1e-4) == "low"  # log-scaled: 2% of the way up
    assert lr.edge(9e-3) == "high"
    assert lr.edge(1e-3) is None  # the middle, in log space
    assert Float(0.0, 1.0).edge(0.5) is None
    assert Float(0.0, 1.0).edge(0.97) == "high"
    layers = Int(1, 4)
    assert (layers.edge(1), layers.edge(2), layers.edge(4)) == ("low", None, "high")


def test_only_ordered_numeric_choices_have_edges():
    dim = Choice((32, 64, 128))
    assert (dim.edge(32), dim.edge(64), dim.edge(128)) == ("low", None, "high")
    assert Choice(("all", "liked")).edge("liked") is None
    assert Choice((True, False)).edge(True) is None
