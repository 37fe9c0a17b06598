#!/usr/bin/env python3
"""vision_parity.py OUT — writes inputs and PyTorch's outputs and gradients
for test_ops_vision --torch: conv2d, grid_sample (bilinear, zeros,
align_corners=False), bicubic antialiased resize (by size and by
scale_factor, as DINOv2 interpolates its position embeddings) and the
multi-scale deformable attention core with RF-DETR's
ms_deform_attn_core_pytorch semantics.

Each case stores its inputs, a seed gradient `r`, the output and the
gradient of sum(r * output) with respect to every input. File format, little
endian: b"RFVT", u32 count, then per tensor: u32 name length, name, u32 ndim,
i64 dims, f32 data (row-major). Exits 77 when torch is missing."""
import struct
import sys

try:
    import torch
    import torch.nn.functional as F
except ImportError as e:
    print(f"vision_parity.py: skipped: cannot import torch ({e}); to run it: pip install torch numpy")
    sys.exit(77)

torch.manual_seed(20240611)
tensors = []


def put(name, t):
    tensors.append((name, t.detach().to(torch.float32).contiguous()))


def leaf(t):
    return t.clone().requires_grad_(True)


def case(prefix, fn, inputs):
    """Runs fn on leaf copies of inputs; stores inputs, r, output, grads."""
    leaves = {k: leaf(v) for k, v in inputs.items()}
    out = fn(**leaves)
    r = torch.rand(out.shape) * 2 - 1
    (out * r).sum().backward()
    for k, v in inputs.items():
        put(f"{prefix}.{k}", v)
    put(f"{prefix}.r", r)
    put(f"{prefix}.out", out)
    for k, v in leaves.items():
        put(f"{prefix}.d{k}", v.grad)


def uniform(shape, lo, hi):
    return torch.rand(shape) * (hi - lo) + lo


# conv2d: 3x3 stride 2 pad 1 with bias, the 14x14 patch embedding, a 1x1
case("conv_3x3_s2", lambda x, w, b: F.conv2d(x, w, b, stride=2, padding=1),
     {"x": uniform((2, 3, 9, 10), -1, 1), "w": uniform((5, 3, 3, 3), -0.5, 0.5), "b": uniform((5,), -1, 1)})
case("conv_patch14", lambda x, w, b: F.conv2d(x, w, b, stride=14, padding=0),
     {"x": uniform((1, 3, 28, 42), -1, 1), "w": uniform((6, 3, 14, 14), -0.1, 0.1), "b": uniform((6,), -1, 1)})
case("conv_1x1", lambda x, w, b: F.conv2d(x, w, b),
     {"x": uniform((2, 4, 5, 3), -1, 1), "w": uniform((3, 4, 1, 1), -1, 1), "b": uniform((3,), -1, 1)})

# grid_sample: random points reaching outside, a few exactly on +-1
grid = uniform((2, 4, 6, 2), -1.2, 1.2)
grid[0, 0, :4, 0] = torch.tensor([-1.0, 1.0, 0.0, 1.0 / 7])
grid[1, 3, :3, 1] = torch.tensor([1.0, -1.0, 0.2])
case("grid_sample",
     lambda x, grid: F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False),
     {"x": uniform((2, 3, 5, 7), -1, 1), "grid": grid})


# bicubic antialiased resize: down, up, mixed, and DINOv2's scale_factor form
def resize(size):
    return lambda x: F.interpolate(x, size=size, mode="bicubic", antialias=True, align_corners=False)


case("resize_down", resize((7, 9)), {"x": uniform((1, 4, 16, 23), -1, 1)})
case("resize_up", resize((11, 13)), {"x": uniform((2, 3, 5, 6), -1, 1)})
case("resize_mixed", resize((24, 5)), {"x": uniform((1, 2, 10, 17), -1, 1)})
# DINOv2 (RF-DETR's backbone): 37x37 position grid to a 40x30 patch grid
# (the C test uses the same scales and level list)
scale = ((40 + 0.1) / 37, (30 + 0.1) / 37)
case("resize_dinov2",
     lambda x: F.interpolate(x, scale_factor=scale, mode="bicubic", antialias=True, align_corners=False),
     {"x": uniform((1, 8, 37, 37), -1, 1)})

# multi-scale deformable attention, levels (h, w)
levels = [(6, 8), (3, 4), (2, 2), (1, 1)]


def ms_deform_attn_core(value, sampling_locations, attention_weights):
    """RF-DETR / Deformable-DETR semantics: value (B, S, H, D), locations
    (B, Q, H, L, P, 2) in [0, 1], weights (B, Q, H, L, P) -> (B, Q, H*D),
    bilinear grid_sample per level with zero padding."""
    B, S, H, D = value.shape
    _, Q, _, L, P, _ = sampling_locations.shape
    per_level = value.split([h * w for h, w in levels], dim=1)
    grids = 2 * sampling_locations - 1
    sampled = []
    for l, (h, w) in enumerate(levels):
        v = per_level[l].permute(0, 2, 3, 1).reshape(B * H, D, h, w)
        g = grids[:, :, :, l].transpose(1, 2).flatten(0, 1)  # (B*H, Q, P, 2)
        sampled.append(F.grid_sample(v, g, mode="bilinear", padding_mode="zeros", align_corners=False))
    stacked = torch.stack(sampled, dim=-2).flatten(-2)  # (B*H, D, Q, L*P)
    weights = attention_weights.transpose(1, 2).reshape(B * H, 1, Q, L * P)
    out = (stacked * weights).sum(-1).view(B, H * D, Q)
    return out.transpose(1, 2).contiguous()


S = sum(h * w for h, w in levels)
locs = uniform((2, 5, 3, len(levels), 4, 2), -0.1, 1.1)
locs[0, 0, 0, :, 0] = torch.tensor([0.0, 0.0])
locs[0, 0, 0, :, 1] = torch.tensor([1.0, 1.0])
case("deform_attn", lambda value, loc, attn: ms_deform_attn_core(value, loc, attn),
     {"value": uniform((2, S, 3, 4), -1, 1), "loc": locs, "attn": uniform((2, 5, 3, len(levels), 4), 0, 1)})

with open(sys.argv[1], "wb") as f:
    f.write(b"RFVT" + struct.pack("<I", len(tensors)))
    for name, t in tensors:
        raw = name.encode()
        f.write(struct.pack("<I", len(raw)) + raw + struct.pack("<I", t.dim()))
        f.write(struct.pack(f"<{t.dim()}q", *t.shape))
        f.write(t.numpy().astype("<f4").tobytes())
