"""Transit depths of limb-darkened stars, for comparing planets with their measured depths."""
