"""The conventional model: the paper's U-Net (docs/method.md 2.2), trained from scratch."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["UNet"]


def double_conv(in_channels: int, out_channels: int) -> nn.Sequential:
    """[3x3 conv (no bias), BatchNorm, ReLU] twice.

    Args:
        in_channels: input channels.
        out_channels: output channels (also the middle width).

    Returns:
        The block.
    """
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
        nn.Conv2d(out_channels, out_channels, kernel_size=3, padding=1, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    )


class Up(nn.Module):
    """Transposed-conv 2x up-sampling, pad to the skip's size, concatenate, double conv.

    Args:
        in_channels: channels of the deeper feature map.
        out_channels: output channels (the skip has ``in_channels // 2``).
    """

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.up = nn.ConvTranspose2d(in_channels, in_channels // 2, kernel_size=2, stride=2)
        self.conv = double_conv(in_channels, out_channels)

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        x = self.up(x)
        dy = skip.shape[2] - x.shape[2]
        dx = skip.shape[3] - x.shape[3]
        x = F.pad(x, [dx // 2, dx - dx // 2, dy // 2, dy - dy // 2])
        return self.conv(torch.cat([skip, x], dim=1))


class UNet(nn.Module):
    """U-Net with widths ``base * (1, 2, 4, 8, 16)``, max-pool down, transposed-conv up; about 31 M parameters at 64.

    Args:
        in_channels: image channels (1 gray, 3 RGB).
        num_classes: output classes including background.
        base_channels: width of the first level.

    Raises:
        ValueError: if a size is not positive.
    """

    def __init__(self, in_channels: int, num_classes: int, base_channels: int = 64) -> None:
        super().__init__()
        if min(in_channels, num_classes, base_channels) <= 0:
            raise ValueError(f"UNet sizes must be positive, got {in_channels=}, {num_classes=}, {base_channels=}")
        widths = [base_channels * 2**i for i in range(5)]
        self.inc = double_conv(in_channels, widths[0])
        self.downs = nn.ModuleList(
            nn.Sequential(nn.MaxPool2d(2), double_conv(widths[i], widths[i + 1])) for i in range(4)
        )
        self.ups = nn.ModuleList(Up(widths[i + 1], widths[i]) for i in reversed(range(4)))
        self.outc = nn.Conv2d(widths[0], num_classes, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits B x num_classes x H x W for images B x in_channels x H x W."""
        skips = [self.inc(x)]
        for down in self.downs:
            skips.append(down(skips[-1]))
        x = skips[-1]
        for i, up in enumerate(self.ups):
            x = up(x, skips[-i - 2])
        return self.outc(x)
