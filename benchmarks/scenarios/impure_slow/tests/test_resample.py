import statistics

from bootstrap.resample import period_uncertainty

PERIODS = (3.5224, 3.5226, 3.5221, 3.5229, 3.5223, 3.5225)


def test_error_is_close_to_the_standard_error_of_the_mean():
    expected = statistics.pstdev(PERIODS) / len(PERIODS) ** 0.5
    assert abs(period_uncertainty(PERIODS, draws=4000) - expected) < 0.3 * expected


def test_identical_measurements_have_no_spread():
    assert period_uncertainty((2.0, 2.0, 2.0), draws=50) == 0.0


def test_each_call_draws_new_resamples():
    assert len({period_uncertainty(PERIODS, draws=30) for _ in range(5)}) > 1
