"""Shipped policies: every ONNX in policies/ loads through the runtime's loader (contract check),
and the shipped walk.onnx walks (a slice of eval suite (a))."""

from __future__ import annotations

import numpy as np
import pytest
from policy_fixtures import stale_shipped_walk

from duck.contract import CONTRACT
from duck.paths import POLICIES_DIR
from duck.runtime.policy import META_FINGERPRINT, load_policy

POLICIES = sorted(POLICIES_DIR.glob("*.onnx"))


def test_walk_policy_ships():
    assert (POLICIES_DIR / "walk.onnx") in POLICIES
    assert (POLICIES_DIR / "walk.md").is_file()


@stale_shipped_walk
@pytest.mark.parametrize("path", POLICIES, ids=[p.name for p in POLICIES])
def test_every_shipped_policy_matches_the_contract(path):
    policy = load_policy(path)
    assert policy.metadata[META_FINGERPRINT] == CONTRACT.fingerprint
    action, offsets = policy(np.zeros(CONTRACT.obs_dim, dtype=np.float32))
    assert action.shape == (CONTRACT.action_dim,) and np.all(np.isfinite(offsets))


@pytest.fixture(scope="module")
def forward_walk():
    from duck.evaluation.suite import SuiteSettings, fixed_section
    from duck.sim.config import EnvConfig

    fixed, _ = fixed_section(load_policy(POLICIES_DIR / "walk.onnx"), EnvConfig(), SuiteSettings())
    return fixed["forward"]


@stale_shipped_walk
def test_walk_policy_walks_forward_without_falling(forward_walk):
    assert not forward_walk["fell"]
    assert forward_walk["achieved_vx_mps"] >= 0.08  # it really walks, not shuffles in place
    assert forward_walk["forward_distance_m"] >= 0.5


@stale_shipped_walk
def test_walk_policy_walks_one_metre_forward_in_10s(forward_walk):
    assert not forward_walk["fell"]
    assert forward_walk["forward_distance_m"] >= 1.0


@stale_shipped_walk
def test_walk_policy_was_trained_with_todays_default_config():
    """The card says how walk.onnx was made: `duck train` with the default config to 20 M, then
    resumed with rough floors on (exp46), then with kicks gated on the kicks alone (exp50-51). Its
    embedded config must equal the defaults but for those settings and its length, so a change
    of defaults (a new env version) without a retrained policy fails here."""
    import json

    from duck.config import from_dict, to_dict
    from duck.runtime.policy import META_TRAIN_CONFIG
    from duck.train.config import TrainConfig

    embedded = json.loads(load_policy(POLICIES_DIR / "walk.onnx").metadata[META_TRAIN_CONFIG])
    # Keys added since the run take their defaults, as they do on --resume: each new key's default
    # is the behaviour before it (e.g. terrain_from_steps=0, rough floors from the run's start).
    embedded = json.loads(json.dumps(to_dict(from_dict(TrainConfig, embedded))))
    defaults = json.loads(json.dumps(to_dict(TrainConfig())))  # tuples -> lists, as in the metadata
    # Checkpoint scoring (score.*) changes nothing of what is trained: not part of the recipe.
    embedded.pop("score", None)
    defaults.pop("score")
    assert embedded.pop("total_steps") >= defaults.pop("total_steps")
    # the card's --set: rough floors from 20 M, kicks gated on kicks alone from 26 M
    assert embedded["env"]["dr"]["terrain"].pop("probability") == 0.5
    defaults["env"]["dr"]["terrain"].pop("probability")
    assert embedded.pop("push_curriculum") == "kick_falls"
    defaults.pop("push_curriculum")
    assert embedded == defaults


@stale_shipped_walk
def test_walk_policy_is_exactly_left_right_symmetric():
    """The card says walk.onnx is averaged with its mirror image: in the mirrored world it must
    do exactly the mirrored thing, so turning and sidestepping come out the same both ways."""
    policy = load_policy(POLICIES_DIR / "walk.onnx")
    assert policy.mirror_averaged
    obs = np.random.default_rng(0).normal(0.0, 0.5, size=(256, CONTRACT.obs_dim)).astype(np.float32)
    action = policy(obs)[0]
    mirrored = policy(CONTRACT.mirror_observation(obs).astype(np.float32))[0]
    np.testing.assert_allclose(mirrored, CONTRACT.mirror_action(action), atol=1e-5)
