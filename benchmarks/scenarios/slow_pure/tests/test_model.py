from transitfit.model import limb_darkened_depth


def test_central_transit_of_a_uniform_star_is_the_area_ratio():
    depth = limb_darkened_depth(0.1, 0.0, u1=0.0, u2=0.0, samples=200)
    assert abs(depth - 0.01) < 0.001


def test_limb_darkening_deepens_a_central_transit():
    assert limb_darkened_depth(0.1, 0.0, samples=120) > limb_darkened_depth(0.1, 0.0, 0.0, 0.0, samples=120)


def test_no_transit_outside_the_disc():
    assert limb_darkened_depth(0.1, 1.5, samples=60) == 0.0
