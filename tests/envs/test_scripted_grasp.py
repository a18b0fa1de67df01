"""The task can be solved in this simulator: a scripted grasp lifts objects and holds them."""

from dexgrasp_env.robot.objects import SHAPE_NAMES
from dexgrasp_env.scripted import run_scripted_grasp


def test_scripted_grasp_lifts_at_least_four_shapes(state_task):
    result = run_scripted_grasp(state_task, seed=0, hold_height=0.10)
    lifted = [SHAPE_NAMES[i] for i in result["lifted"].nonzero()[0]]
    print("lifted 10 cm and held for 2.5 s:", lifted)
    assert len(lifted) >= 4, result["min_rise"]
