#!/usr/bin/python3
"""Voxel agreement of two folders of run outputs (<case>/seg.nii.gz), e.g. bf16 against fp32.

    /usr/bin/python3 scripts/label-agreement.py RUN_A RUN_B   (Debian python3-numpy)

Prints per case and overall the fraction of voxels with the same label. Reads NIfTI-1 uint8 label
maps as cardioseg writes them (numpy only; no nibabel on a user's offline workstation).
"""
import gzip
import pathlib
import struct
import sys

import numpy as np


def read_labels(path):
    data = gzip.open(path, "rb").read()
    dims = struct.unpack_from("<8h", data, 40)
    offset = int(struct.unpack_from("<f", data, 108)[0])
    n = int(np.prod(dims[1:1 + dims[0]]))
    return np.frombuffer(data, dtype=np.uint8, count=n, offset=offset)


def main():
    a_dir, b_dir = map(pathlib.Path, sys.argv[1:3])
    same = total = 0
    for seg in sorted(a_dir.glob("*/seg.nii.gz")):
        other = b_dir / seg.parent.name / "seg.nii.gz"
        if not other.exists():
            continue
        a, b = read_labels(seg), read_labels(other)
        if a.shape != b.shape:
            sys.exit(f"{seg.parent.name}: the label maps differ in size")
        s = int((a == b).sum())
        print(f"{seg.parent.name}: {100.0 * s / a.size:.4f} % of {a.size} voxels agree")
        same += s
        total += a.size
    if total == 0:
        sys.exit("no case found in both folders")
    print(f"all: {100.0 * same / total:.4f} % of {total} voxels agree")


if __name__ == "__main__":
    main()
