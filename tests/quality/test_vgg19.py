"""VGG19 features: layout, loading torchvision-format files, finding the file, and the errors."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import save_file

from models.vgg19 import (
    TORCHVISION_FILE,
    VGG19Features,
    VGG19WeightsError,
    find_vgg19_weights,
    hub_checkpoint_path,
    imagenet_denormalise,
    imagenet_normalise,
    load_vgg19,
)
from tests.quality.conftest import VGG19_CONVS, vgg19_state_dict


def test_layer_indices_match_torchvision_and_spec():
    features = VGG19Features().features
    assert len(features) == 37
    convs = [(i, m.in_channels, m.out_channels) for i, m in enumerate(features) if isinstance(m, torch.nn.Conv2d)]
    assert convs == VGG19_CONVS
    pools = [i for i, m in enumerate(features) if isinstance(m, torch.nn.MaxPool2d)]
    assert pools == [4, 9, 18, 27, 36]
    # SPEC section 7 names: conv1_1 0, conv2_1 5, conv3_1 10, conv4_1 19, conv4_2 21, conv5_1 28.
    assert all(isinstance(features[i], torch.nn.Conv2d) for i in (0, 5, 10, 19, 21, 28))


def test_loads_torchvision_state_dict_and_ignores_classifier(vgg19_file):
    model = load_vgg19(vgg19_file)
    expected = vgg19_state_dict()
    for index, _, _ in VGG19_CONVS:
        assert torch.equal(model.features[index].weight, expected[f"features.{index}.weight"])
        assert torch.equal(model.features[index].bias, expected[f"features.{index}.bias"])
    assert not model.training
    assert not any(p.requires_grad for p in model.parameters())


def test_loads_safetensors(tmp_path):
    path = tmp_path / "vgg19.safetensors"
    state = vgg19_state_dict(seed=5)
    save_file(state, str(path))
    model = load_vgg19(path)
    assert torch.equal(model.features[28].weight, state["features.28.weight"])


def test_activations_are_rectified_conv_outputs_and_stop_early(vgg19):
    x = torch.randn(2, 3, 40, 48, generator=torch.Generator().manual_seed(0))
    out = vgg19(x, [0, 5, 28])
    conv1_1 = F.conv2d(x, vgg19.features[0].weight, vgg19.features[0].bias, padding=1)
    torch.testing.assert_close(out[0], F.relu(conv1_1))
    assert (out[0] >= 0).all() and (conv1_1 < 0).any()
    # conv2_1 after one pool, conv5_1 after four: 40 x 48 -> 20 x 24 -> 2 x 3.
    assert out[5].shape == (2, 128, 20, 24)
    assert out[28].shape == (2, 512, 2, 3)
    assert set(out) == {0, 5, 28}


def test_tapping_a_non_conv_layer_is_refused(vgg19):
    with pytest.raises(ValueError, match=r"features\[4\] is MaxPool2d"):
        vgg19(torch.zeros(1, 3, 32, 32), [4])


def test_normalise_round_trip():
    x = torch.rand(1, 3, 5, 5)
    torch.testing.assert_close(imagenet_denormalise(imagenet_normalise(x)), x)
    # ImageNet mean grey maps to zero.
    grey = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1).expand(1, 3, 2, 2)
    torch.testing.assert_close(imagenet_normalise(grey), torch.zeros(1, 3, 2, 2))


def test_wrong_files_name_the_problem(tmp_path):
    state = vgg19_state_dict()
    del state["features.34.weight"]
    torch.save(state, tmp_path / "partial.pth")
    with pytest.raises(VGG19WeightsError, match=r"partial.pth: not VGG19 weights .*missing 1 of 32 .*features.34.weight"):
        load_vgg19(tmp_path / "partial.pth")

    state = vgg19_state_dict()
    state["features.0.weight"] = torch.zeros(32, 3, 3, 3)
    torch.save(state, tmp_path / "narrow.pth")
    with pytest.raises(VGG19WeightsError, match=r"features.0.weight has shape \(32, 3, 3, 3\), VGG19 needs \(64, 3, 3, 3\)"):
        load_vgg19(tmp_path / "narrow.pth")

    torch.save([torch.zeros(1)], tmp_path / "list.pth")
    with pytest.raises(VGG19WeightsError, match="holds a list, not a state dict"):
        load_vgg19(tmp_path / "list.pth")

    (tmp_path / "junk.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(VGG19WeightsError, match="junk.pth: not a readable weight file"):
        load_vgg19(tmp_path / "junk.pth")


def test_find_weights_explicit_then_hub_folder(tmp_path, monkeypatch, vgg19_file):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    assert hub_checkpoint_path() == tmp_path / "torch" / "hub" / "checkpoints" / TORCHVISION_FILE
    assert find_vgg19_weights(vgg19_file) == vgg19_file

    with pytest.raises(VGG19WeightsError) as missing:
        find_vgg19_weights(None)
    message = str(missing.value)
    assert TORCHVISION_FILE in message and str(hub_checkpoint_path()) in message and "SINGAN_SEG_VGG19_WEIGHTS" in message

    with pytest.raises(VGG19WeightsError, match=r"nowhere.pth does not exist; it should be torchvision's vgg19-dcbb9e9d.pth"):
        find_vgg19_weights(tmp_path / "nowhere.pth")

    hub_checkpoint_path().parent.mkdir(parents=True)
    hub_checkpoint_path().write_bytes(vgg19_file.read_bytes())
    assert find_vgg19_weights(None) == hub_checkpoint_path()
    assert find_vgg19_weights("") == hub_checkpoint_path()  # an empty setting means "not set"
