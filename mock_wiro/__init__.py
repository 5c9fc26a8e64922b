"""mock_wiro: an offline twin of the Wiro AI API for MiniMax Hailuo 2.3 Fast."""

from __future__ import annotations

__version__ = "0.1.0"
