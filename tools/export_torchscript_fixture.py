#!/usr/bin/python3
"""Writes a tiny scripted 3D network with Debian's python3-torch (1.13) for the C++ parity test.

Usage: /usr/bin/python3 tools/export_torchscript_fixture.py OUT_DIR

OUT_DIR gets model.pt (TorchScript, [N, 1, D, H, W] -> logits [N, 3, D, H, W]), model.json (a
cardioseg model card of format "torchscript") and tensors.pt (a scripted holder of an input and
PyTorch's output for it). Run it with /usr/bin/python3: the python3 first on PATH may have no torch.
"""
import json
import pathlib
import sys

import torch


class Tiny(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = torch.nn.Conv3d(1, 4, 3, padding=1)
        self.norm = torch.nn.InstanceNorm3d(4, affine=True)
        self.conv2 = torch.nn.Conv3d(4, 3, 1)

    def forward(self, x):
        return self.conv2(torch.nn.functional.leaky_relu(self.norm(self.conv1(x)), 0.01))


class Tensors(torch.nn.Module):
    def __init__(self, input, output):
        super().__init__()
        self.input = input
        self.output = output


def main(out):
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    model = Tiny().eval()
    scripted = torch.jit.script(model)
    scripted.save(str(out / "model.pt"))
    x = torch.randn(1, 1, 6, 12, 10)
    with torch.no_grad():
        y = model(x)
    torch.jit.script(Tensors(x, y)).save(str(out / "tensors.pt"))
    card = {
        "name": "torchscript-fixture",
        "format": "torchscript",
        "weights": "model.pt",
        "architecture": {"type": "unet", "in_channels": 1, "num_classes": 3, "levels": []},
        "labels": [{"value": 0, "name": "background"}, {"value": 1, "name": "a"},
                   {"value": 2, "name": "b"}],
        # One tile covers the fixture volume, so the sliding window equals one forward pass.
        "patch_size_dhw": [6, 12, 10],
        "spacing_mm": [1.0, 1.0, 1.0],
    }
    (out / "model.json").write_text(json.dumps(card, indent=2))


if __name__ == "__main__":
    main(pathlib.Path(sys.argv[1]))
